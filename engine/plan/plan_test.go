package plan

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/hash"
	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/platform"
	"github.com/imgraph/imgraph/engine/registry/regtest"
)

var (
	linuxAMD64 = platform.Platform{OS: "linux", Arch: "amd64"}
	linuxARM64 = platform.Platform{OS: "linux", Arch: "arm64"}
)

func node(host, tag string, p platform.Platform, digest string) Node {
	return Node{
		ID:     graph.NodeID{Label: label.Label("//" + tag), Platform: p},
		Ref:    host + "/e2e/" + tag + ":1.0-" + p.TagSuffix(),
		Digest: hash.Digest(digest),
	}
}

func labels(d string) map[string]string { return map[string]string{LabelInputDigest: d} }

func fastOpts(rt *regtest.Counter) Options {
	b := regtest.FastBackoff
	o := Options{Backoff: &b, Keychain: authn.NewMultiKeychain()}
	if rt != nil {
		o.Transport = rt
	}
	return o
}

func TestPlanDecisions(t *testing.T) {
	host := regtest.Registry(t, nil)
	amd := v1.Platform{OS: "linux", Architecture: "amd64"}
	arm := v1.Platform{OS: "linux", Architecture: "arm64"}

	same := node(host, "same", linuxAMD64, "sha256:aaaa")
	sameDigest := regtest.Push(t, same.Ref, regtest.Image(t, amd, labels("sha256:aaaa"), false))
	changed := node(host, "changed", linuxAMD64, "sha256:new")
	regtest.Push(t, changed.Ref, regtest.Image(t, amd, labels("sha256:old"), false))
	unlabelled := node(host, "unlabelled", linuxAMD64, "sha256:bbbb")
	regtest.Push(t, unlabelled.Ref, regtest.Image(t, amd, nil, false))
	missing := node(host, "missing", linuxAMD64, "sha256:cccc")
	// BuildKit with provenance pushes an index even for one platform.
	indexed := node(host, "indexed", linuxARM64, "sha256:dddd")
	indexDigest := regtest.PushWithAttestation(t, indexed.Ref, regtest.Image(t, arm, labels("sha256:dddd"), true), arm)
	indexedOld := node(host, "indexed-old", linuxARM64, "sha256:eeee")
	regtest.PushWithAttestation(t, indexedOld.Ref, regtest.Image(t, arm, labels("sha256:ffff"), true), arm)

	nodes := []Node{same, changed, unlabelled, missing, indexed, indexedOld}
	got, err := Plan(context.Background(), nodes, fastOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status   Status
		reason   string
		existing string
		regInput string
	}{
		{StatusUpToDate, "registry image has the same input digest", sameDigest, "sha256:aaaa"},
		{StatusBuild, "inputs changed: registry has sha256:old", "", "sha256:old"},
		{StatusBuild, "registry image has no dev.imgraph.input-digest label (not built by imgraph)", "", ""},
		{StatusBuild, "not in registry", "", ""},
		{StatusUpToDate, "registry image has the same input digest", indexDigest, "sha256:dddd"},
		{StatusBuild, "inputs changed: registry has sha256:ffff", "", "sha256:ffff"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d decisions, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != nodes[i].ID || g.Ref != nodes[i].Ref || g.Digest != nodes[i].Digest {
			t.Errorf("%s: decision is for %s %s", nodes[i].ID, g.ID, g.Ref)
		}
		if g.Status != w.status || g.Build != (w.status == StatusBuild) || g.Reason != w.reason || g.ExistingDigest != w.existing || g.RegistryInput != w.regInput {
			t.Errorf("%s: got %+v, want status %s reason %q existing %q registry input %q", nodes[i].ID, g, w.status, w.reason, w.existing, w.regInput)
		}
	}
}

func TestPlanNoCacheMakesNoRequests(t *testing.T) {
	host := regtest.Registry(t, nil)
	n := node(host, "x", linuxAMD64, "sha256:aaaa")
	regtest.Push(t, n.Ref, regtest.Image(t, v1.Platform{OS: "linux", Architecture: "amd64"}, labels("sha256:aaaa"), false))
	rt := &regtest.Counter{}
	opts := fastOpts(rt)
	opts.NoCache = true
	got, err := Plan(context.Background(), []Node{n}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].Build || got[0].Reason != "--no-cache" || got[0].Status != StatusBuild {
		t.Errorf("got %+v, want build --no-cache", got[0])
	}
	if c := rt.Counts(); len(c) != 0 {
		t.Errorf("--no-cache made registry requests: %v", c)
	}
}

// TestPlanNodeWithoutRefMakesNoRequests: a node without a reference is
// refused before any lookup starts (none is left running after the error).
func TestPlanNodeWithoutRefMakesNoRequests(t *testing.T) {
	host := regtest.Registry(t, nil)
	nodes := []Node{node(host, "x", linuxAMD64, "sha256:aaaa"), node(host, "y", linuxAMD64, "sha256:bbbb")}
	nodes[1].Ref = ""
	rt := &regtest.Counter{}
	_, err := Plan(context.Background(), nodes, fastOpts(rt))
	if err == nil || !strings.Contains(err.Error(), "no registry reference") {
		t.Fatalf("error %v, want no registry reference", err)
	}
	time.Sleep(50 * time.Millisecond) // a lookup left running would show by now
	if c := rt.Counts(); len(c) != 0 {
		t.Errorf("registry requests after the error: %v", c)
	}
}

func TestPlanLocalRecord(t *testing.T) {
	host := regtest.Registry(t, nil)
	amd := v1.Platform{OS: "linux", Architecture: "amd64"}
	a := node(host, "a", linuxAMD64, "sha256:aaaa")
	aDigest := regtest.Push(t, a.Ref, regtest.Image(t, amd, labels("sha256:aaaa"), false))
	b := node(host, "b", linuxAMD64, "sha256:bbbb")
	bDigest := regtest.Push(t, b.Ref, regtest.Image(t, amd, labels("sha256:bbbb"), false))
	cacheFile := filepath.Join(t.TempDir(), "sub", "record.json")

	// a is recorded by the executor after its push; b is learned by the first plan.
	if err := RecordBuilt(cacheFile, a.Ref, aDigest, a.Digest); err != nil {
		t.Fatal(err)
	}
	rt := &regtest.Counter{}
	opts := fastOpts(rt)
	opts.CacheFile = cacheFile
	got, err := Plan(context.Background(), []Node{a, b}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		if d.Status != StatusUpToDate {
			t.Fatalf("first plan: %s: %+v", d.ID, d)
		}
	}
	if c := rt.Counts(); c["HEAD manifests"] != 1 || c["GET manifests"] != 1 {
		t.Errorf("first plan: want one HEAD (recorded a) and one GET (unrecorded b), got %v", c)
	}
	var rec record
	raw, err := os.ReadFile(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if e := rec.Images[b.Ref]; e.Manifest != bDigest || e.Input != "sha256:bbbb" {
		t.Errorf("record for b = %+v, want manifest %s input sha256:bbbb", e, bDigest)
	}

	// Second plan: one HEAD per node, nothing else.
	rt.Reset()
	got, err = Plan(context.Background(), []Node{a, b}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range got {
		if d.Status != StatusUpToDate || d.ExistingDigest != []string{aDigest, bDigest}[i] {
			t.Errorf("second plan: %s: %+v", d.ID, d)
		}
	}
	if c := rt.Counts(); len(c) != 1 || c["HEAD manifests"] != 2 {
		t.Errorf("second plan: want exactly 2 HEAD manifest requests, got %v", c)
	}

	// The tag moves (built elsewhere from other inputs): the HEAD digest no
	// longer matches the record, so the config is fetched and trusted instead.
	regtest.Push(t, a.Ref, regtest.Image(t, amd, labels("sha256:other"), false))
	rt.Reset()
	got, err = Plan(context.Background(), []Node{a}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Reason != "inputs changed: registry has sha256:other" {
		t.Errorf("after the tag moved: %+v", got[0])
	}
	if c := rt.Counts(); c["HEAD manifests"] != 1 || c["GET manifests"] != 1 || c["GET blobs"] != 1 {
		t.Errorf("after the tag moved: want HEAD, GET manifest, GET config; got %v", c)
	}

	// The tag is deleted from the registry: the record does not hide that.
	gone := node(host, "gone", linuxAMD64, "sha256:abcd")
	if err := RecordBuilt(cacheFile, gone.Ref, aDigest, gone.Digest); err != nil {
		t.Fatal(err)
	}
	got, err = Plan(context.Background(), []Node{gone}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Reason != "not in registry" {
		t.Errorf("recorded but absent: %+v", got[0])
	}
}

func TestRecordBuiltConcurrent(t *testing.T) {
	cacheFile := filepath.Join(t.TempDir(), "record.json")
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- RecordBuilt(cacheFile, fmt.Sprintf("127.0.0.1:5000/img:%d", i), fmt.Sprintf("sha256:%064d", i), hash.Digest(fmt.Sprintf("in%d", i)))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rec, err := readRecord(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Images) != n {
		t.Fatalf("record has %d entries, want %d", len(rec.Images), n)
	}
	for i := range n {
		if e := rec.Images[fmt.Sprintf("127.0.0.1:5000/img:%d", i)]; e.Input != fmt.Sprintf("in%d", i) {
			t.Errorf("entry %d = %+v", i, e)
		}
	}
	if m, _ := filepath.Glob(cacheFile + ".*.tmp"); len(m) != 0 {
		t.Errorf("temporary files left behind: %v", m)
	}
}

func TestPlanRetries(t *testing.T) {
	amd := v1.Platform{OS: "linux", Architecture: "amd64"}
	tests := []struct {
		name    string
		fails   int // -1: always
		status  int
		wantErr []string
	}{
		{name: "recovers after two 503s", fails: 2, status: 503},
		{name: "recovers after a 500", fails: 1, status: 500},
		{name: "persistent 502", fails: -1, status: 502, wantErr: []string{"kept failing (HTTP 502)", "check the registry's health"}},
		{name: "persistent 503", fails: -1, status: 503, wantErr: []string{"kept failing (HTTP 503)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ff := &regtest.FailFirst{Status: tc.status}
			host := regtest.Registry(t, ff.Wrap)
			n := node(host, "x", linuxAMD64, "sha256:aaaa")
			regtest.Push(t, n.Ref, regtest.Image(t, amd, labels("sha256:aaaa"), false))
			ff.N = tc.fails // start failing only after the push
			got, err := Plan(context.Background(), []Node{n}, fastOpts(nil))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("want success after retries, got %v", err)
				}
				if got[0].Status != StatusUpToDate {
					t.Errorf("got %+v", got[0])
				}
				if ff.Served() != tc.fails {
					t.Errorf("served %d failures, want %d", ff.Served(), tc.fails)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			t.Logf("error: %v", err)
			for _, s := range append(tc.wantErr, host, "//x@linux/amd64") {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			// One initial attempt plus the backoff's retries (per request).
			if ff.Served() < regtest.FastBackoff.Steps {
				t.Errorf("served %d failures: not retried", ff.Served())
			}
		})
	}
}

func TestPlanUnreachableRegistry(t *testing.T) {
	// Nothing listens on port 1.
	n := node("127.0.0.1:1", "x", linuxAMD64, "sha256:aaaa")
	_, err := Plan(context.Background(), []Node{n}, fastOpts(nil))
	if err == nil {
		t.Fatal("want an error")
	}
	t.Logf("error: %v", err)
	for _, s := range []string{"registry 127.0.0.1:1 is unreachable", "hack/local-stack.sh up"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestPlanAuth(t *testing.T) {
	const user, password = "imgraph", "s3cret-Pa55word"
	host := regtest.Registry(t, regtest.BasicAuth(user, password))
	amd := v1.Platform{OS: "linux", Architecture: "amd64"}
	n := node(host, "private", linuxAMD64, "sha256:aaaa")
	regtest.Push(t, n.Ref, regtest.Image(t, amd, labels("sha256:aaaa"), false),
		remote.WithAuth(&authn.Basic{Username: user, Password: password}))

	writeConfig := func(t *testing.T, pw string) {
		dir := t.TempDir()
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
		cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("HOME", t.TempDir()) // keep the real ~/.docker out of it
		t.Setenv("DOCKER_CONFIG", dir)
	}
	b := regtest.FastBackoff
	opts := Options{Backoff: &b} // nil Keychain: authn.DefaultKeychain

	t.Run("credentials from DOCKER_CONFIG", func(t *testing.T) {
		writeConfig(t, password)
		got, err := Plan(context.Background(), []Node{n}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Status != StatusUpToDate {
			t.Errorf("got %+v", got[0])
		}
	})
	for _, tc := range []struct{ name, pw string }{{"wrong password", "Wr0ng-Pa55word"}, {"no credentials", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pw != "" {
				writeConfig(t, tc.pw)
			} else {
				t.Setenv("HOME", t.TempDir())
				t.Setenv("DOCKER_CONFIG", t.TempDir())
			}
			_, err := Plan(context.Background(), []Node{n}, opts)
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			for _, s := range []string{"refused access (HTTP 401)", "docker login " + host} {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			for _, secret := range []string{password, tc.pw, base64.StdEncoding.EncodeToString([]byte(user + ":" + tc.pw))} {
				if secret != "" && strings.Contains(msg, secret) {
					t.Errorf("error reveals a credential: %q", msg)
				}
			}
		})
	}
}

// An image that recorded its input parts lets the plan say which inputs
// changed, also when the local record answered the lookup with a HEAD.
func TestPlanNamesChangedParts(t *testing.T) {
	host := regtest.Registry(t, nil)
	amd := v1.Platform{OS: "linux", Architecture: "amd64"}
	old := map[string]hash.Digest{"context": "sha256:c1", "dockerfile": "sha256:d1", "base": "sha256:b1"}
	n := node(host, "parts", linuxAMD64, "sha256:new")
	n.Parts = map[string]hash.Digest{"context": "sha256:c2", "dockerfile": "sha256:d1", "base": "sha256:b2"}
	lbl := labels("sha256:old")
	lbl[LabelInputParts] = EncodeParts(old)
	regtest.Push(t, n.Ref, regtest.Image(t, amd, lbl, false))

	opts := fastOpts(nil)
	opts.CacheFile = filepath.Join(t.TempDir(), "published.json")
	for _, run := range []string{"registry lookup", "local record"} {
		got, err := Plan(context.Background(), []Node{n}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if want := "inputs changed: base, context (registry has sha256:old)"; got[0].Reason != want {
			t.Errorf("%s: reason %q, want %q", run, got[0].Reason, want)
		}
	}
}
