package publish

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/hash"
	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/naming"
	"github.com/imgraph/imgraph/engine/plan"
	"github.com/imgraph/imgraph/engine/registry/regtest"
)

// TestRealRegistry runs plan and publish against the local stack's
// registry (eval "$(hack/local-stack.sh env)"; CI sets it).
func TestRealRegistry(t *testing.T) {
	host := os.Getenv("IMGRAPH_TEST_REGISTRY")
	if host == "" {
		t.Skip("IMGRAPH_TEST_REGISTRY is not set; run eval \"$(hack/local-stack.sh env)\"")
	}
	repo := "imgraph-test/publish"
	version := fmt.Sprintf("it-%d", time.Now().UnixNano())    // a fresh tag per run
	ps := []imagePlatform{fivePlatforms[1], fivePlatforms[4]} // linux/arm64, windows ltsc2022

	l := List{Ref: naming.ListRef(host, repo, version)}
	var nodes []plan.Node
	for i, p := range ps {
		ref := naming.PlatformRef(host, repo, version, p.decl)
		input := fmt.Sprintf("sha256:%064d", i+1)
		d := regtest.Push(t, ref, regtest.Image(t, p.cfg, map[string]string{plan.LabelInputDigest: input}, false))
		l.Declared = append(l.Declared, p.decl)
		l.Entries = append(l.Entries, Entry{Ref: ref, Digest: d, Platform: p.decl})
		// The first node's inputs are unchanged, the second's changed.
		if i == 1 {
			input = "sha256:" + fmt.Sprintf("%064d", 99)
		}
		nodes = append(nodes, plan.Node{ID: graph.NodeID{Label: label.Label("//publish"), Platform: p.decl}, Ref: ref, Digest: hash.Digest(input)})
	}
	ctx := context.Background()

	decisions, err := plan.Plan(ctx, append(nodes, plan.Node{ID: nodes[0].ID, Ref: naming.PlatformRef(host, repo, version+"-absent", ps[0].decl), Digest: "sha256:1"}), plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range decisions {
		got = append(got, string(d.Status)+": "+d.Reason)
	}
	want := []string{
		"up-to-date: registry image has the same input digest",
		"build: inputs changed: registry has sha256:" + fmt.Sprintf("%064d", 2),
		"build: not in registry",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decisions %q, want %q", got, want)
	}

	res, err := Publish(ctx, l, Options{})
	if err != nil {
		t.Fatal(err)
	}
	digest, im := readIndex(t, l.Ref)
	if digest != res.Digest || res.Status != StatusWritten {
		t.Errorf("registry has %s, Publish reported %+v", digest, res)
	}
	var platforms []v1.Platform
	for _, m := range im.Manifests {
		platforms = append(platforms, *m.Platform)
	}
	if !reflect.DeepEqual(platforms, []v1.Platform{ps[0].cfg, ps[1].cfg}) {
		t.Errorf("list platforms %+v", platforms)
	}
	again, err := Publish(ctx, l, Options{})
	if err != nil || again.Status != StatusUpToDate {
		t.Errorf("republish: %+v, %v", again, err)
	}
}
