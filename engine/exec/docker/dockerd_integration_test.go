package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	bkclient "github.com/moby/buildkit/client"

	"github.com/imgraph/imgraph/engine/exec"
	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/plan"
	"github.com/imgraph/imgraph/engine/platform"
)

// testRegistry is IMGRAPH_TEST_REGISTRY (the local stack's registry) or an
// in-process registry on loopback; dockerd treats 127.0.0.0/8 as plain HTTP.
func testRegistry(t *testing.T) string {
	if r := os.Getenv("IMGRAPH_TEST_REGISTRY"); r != "" {
		return r
	}
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// pushBase pushes a one-layer linux/amd64 image holding /base.txt and
// returns its digest reference (BASEIMAGE is always pinned by digest).
func pushBase(t *testing.T, reg string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	content := []byte("base layer\n")
	if err := tw.WriteHeader(&tar.Header{Name: "base.txt", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write(content)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg + "/imgraph-test/docker-base:" + fmt.Sprint(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push base %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String()).String()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// collect drains a Status channel; wait returns what arrived once the
// executor closed it.
func collect(ch chan *bkclient.SolveStatus) (wait func() []*bkclient.SolveStatus) {
	var (
		mu  sync.Mutex
		out []*bkclient.SolveStatus
	)
	done := make(chan struct{})
	go func() {
		for s := range ch {
			mu.Lock()
			out = append(out, s)
			mu.Unlock()
		}
		close(done)
	}()
	return func() []*bkclient.SolveStatus {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			return nil // the executor did not close the channel
		}
		return out
	}
}

// imageFiles extracts the flattened filesystem of ref.
func imageFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(h.Name, "/")] = string(b)
	}
}

const testDockerfile = `ARG BASEIMAGE
FROM $BASEIMAGE
ARG GREETING
LABEL greeting=$GREETING
COPY hello.txt /hello.txt
COPY sub/ /sub/
COPY payload /payload
`

// TestRealDockerd drives a real dockerd started here with --tlsverify and
// certificates made by the test: build + push + digest read-back, the
// build-error path, and one distinct failure per TLS misconfiguration.
// Its own daemon rather than the local stack's: the failure cases need a
// CA and certificates the test controls.
func TestRealDockerd(t *testing.T) {
	ca := newTestCA(t, "imgraph test CA")
	otherCA := newTestCA(t, "some other CA")
	now := time.Now()
	srvCert, srvKey := ca.issue(t, true, now.Add(-time.Hour), now.Add(24*time.Hour))
	reg := testRegistry(t)
	host := startDockerd(t, ca.pem, srvCert, srvKey, reg)

	cliCert, cliKey := ca.issue(t, false, now.Add(-time.Hour), now.Add(24*time.Hour))
	good := Config{Host: host, CertDir: certDir(t, ca.pem, cliCert, cliKey), OSVersion: "test"}
	e := connect(t, good)
	if got := e.Info().OSType; got != "linux" {
		t.Fatalf("daemon OSType = %q", got)
	}
	amd64 := platform.Platform{OS: "linux", Arch: "amd64"}

	t.Run("build and push", func(t *testing.T) {
		base := pushBase(t, reg)
		root := t.TempDir()
		ctxDir := filepath.Join(root, "images", "hello")
		writeFiles(t, ctxDir, map[string]string{
			"hello.txt":     "hello from the context\n",
			"secret.txt":    "must not be sent\n",
			"sub/keep.txt":  "kept\n",
			"sub/drop.log":  "dropped\n",
			"payload":       "context version, replaced by the extra file\n",
			".dockerignore": "secret.txt\n**/*.log\n",
		})
		// The Dockerfile lives outside the context directory.
		writeFiles(t, root, map[string]string{"dockerfiles/Dockerfile.hello": testDockerfile})
		extra := filepath.Join(t.TempDir(), "payload.bin")
		writeFiles(t, filepath.Dir(extra), map[string]string{"payload.bin": "prebuilt payload\n"})

		greeting := fmt.Sprintf("hi-%d", now.UnixNano())
		inputDigest := "sha256:" + strings.Repeat("ab", 32)
		ref := fmt.Sprintf("%s/imgraph-test/docker-hello:%d-linux-amd64", reg, now.UnixNano())
		status := make(chan *bkclient.SolveStatus)
		wait := collect(status)
		res, err := e.Build(context.Background(), exec.Request{
			ID:         graph.NodeID{Label: "//hello", Platform: amd64},
			Platform:   amd64,
			Root:       root,
			Dockerfile: filepath.Join(root, "dockerfiles/Dockerfile.hello"),
			ContextDir: ctxDir,
			Extra:      map[string]string{"payload": extra},
			BuildArgs:  map[string]string{"BASEIMAGE": base, "GREETING": greeting, "OS_VERSION": ""},
			Labels:     map[string]string{plan.LabelInputDigest: inputDigest},
			Ref:        ref,
			Push:       true,
			Status:     status,
		})
		msgs := wait()
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if msgs == nil {
			t.Fatal("Status channel was not closed")
		}

		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Head(r)
		if err != nil {
			t.Fatalf("HEAD %s: %v", ref, err)
		}
		if desc.Digest.String() != res.Digest {
			t.Errorf("Result.Digest = %s, registry has %s", res.Digest, desc.Digest)
		}
		img, err := remote.Image(r.Context().Digest(res.Digest))
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := cf.Config.Labels["greeting"]; got != greeting {
			t.Errorf("label greeting = %q, want %q (build arg)", got, greeting)
		}
		if got := cf.Config.Labels[plan.LabelInputDigest]; got != inputDigest {
			t.Errorf("label %s = %q, want %q", plan.LabelInputDigest, got, inputDigest)
		}
		if cf.OS != "linux" || cf.Architecture != "amd64" {
			t.Errorf("config platform %s/%s", cf.OS, cf.Architecture)
		}
		files := imageFiles(t, img)
		want := map[string]string{
			"base.txt":     "base layer\n",
			"hello.txt":    "hello from the context\n",
			"sub/keep.txt": "kept\n",
			"payload":      "prebuilt payload\n",
		}
		for f, c := range want {
			if files[f] != c {
				t.Errorf("image file %s = %q, want %q", f, files[f], c)
			}
		}
		for _, f := range []string{"secret.txt", "sub/drop.log"} {
			if _, ok := files[f]; ok {
				t.Errorf("image has %s, which .dockerignore excludes", f)
			}
		}

		// Progress: a build and a push vertex, both completed without
		// error, and the builder's step output as logs.
		var names []string
		completed := map[string]bool{}
		var logs strings.Builder
		for _, m := range msgs {
			for _, v := range m.Vertexes {
				if v.Completed != nil && v.Error == "" {
					completed[v.Name] = true
				}
				names = append(names, v.Name)
			}
			for _, l := range m.Logs {
				logs.Write(l.Data)
			}
		}
		var sawBuild, sawPush bool
		for n := range completed {
			sawBuild = sawBuild || strings.Contains(n, "docker build")
			sawPush = sawPush || strings.Contains(n, "docker push")
		}
		if !sawBuild || !sawPush {
			t.Errorf("completed vertexes %v (all: %v); want a build and a push", completed, names)
		}
		if !strings.Contains(logs.String(), "COPY payload /payload") {
			t.Errorf("progress logs lack the builder's steps:\n%s", logs.String())
		}
	})

	t.Run("build error shows the daemon's message and output", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{
			"Dockerfile": "FROM scratch\nLABEL step=one\nCOPY does-not-exist.txt /\n",
		})
		status := make(chan *bkclient.SolveStatus)
		wait := collect(status)
		_, err := e.Build(context.Background(), exec.Request{
			ID: graph.NodeID{Label: "//broken", Platform: amd64}, Platform: amd64,
			Dockerfile: filepath.Join(dir, "Dockerfile"), ContextDir: dir,
			Ref: reg + "/imgraph-test/docker-broken:x", Push: true, Status: status,
		})
		msgs := wait()
		if err == nil {
			t.Fatal("Build of a Dockerfile copying a missing file succeeded")
		}
		for _, want := range []string{"does-not-exist.txt", "last ", "LABEL step=one", "//broken@linux/amd64"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
		failed := false
		for _, m := range msgs {
			for _, v := range m.Vertexes {
				failed = failed || (v.Completed != nil && strings.Contains(v.Error, "does-not-exist.txt"))
			}
		}
		if !failed {
			t.Error("no progress vertex completed with the build error")
		}
	})

	t.Run("platform mismatch refused before building", func(t *testing.T) {
		win := platform.Platform{OS: "windows", Arch: "amd64", OSVersion: "ltsc2022"}
		_, err := e.Build(context.Background(), exec.Request{
			ID: graph.NodeID{Label: "//x", Platform: win}, Platform: win, Ref: reg + "/x:y", Push: true,
		})
		if !errors.Is(err, ErrPlatform) || !strings.Contains(err.Error(), "linux daemon") {
			t.Errorf("err = %v, want ErrPlatform naming the linux daemon", err)
		}
	})

	t.Run("TLS failures", func(t *testing.T) {
		otherCert, otherKey := otherCA.issue(t, false, now.Add(-time.Hour), now.Add(24*time.Hour))
		expCert, expKey := ca.issue(t, false, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
		unreachable := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
		cases := []struct {
			name string
			cfg  Config
			kind error
			says string
		}{
			{"wrong client certificate", Config{Host: host, CertDir: certDir(t, ca.pem, otherCert, otherKey)}, ErrBadClientCert, "refused our client certificate"},
			{"missing certificates", Config{Host: host, CertDir: certDir(t, nil, nil, nil)}, ErrTLSRequired, "insecure = True"},
			{"missing key only", Config{Host: host, CertDir: certDir(t, ca.pem, cliCert, nil)}, ErrTLSRequired, "missing key.pem"},
			{"insecure against a TLS daemon", Config{Host: host, CertDir: certDir(t, nil, nil, nil), Insecure: true}, ErrNotDocker, "it expects TLS"},
			{"wrong CA", Config{Host: host, CertDir: certDir(t, otherCA.pem, cliCert, cliKey)}, ErrUnknownCA, "not signed by the CA in"},
			{"expired client certificate", Config{Host: host, CertDir: certDir(t, ca.pem, expCert, expKey)}, ErrExpiredCert, "expired on"},
			{"unreachable", Config{Host: unreachable, CertDir: good.CertDir}, ErrUnreachable, "cannot connect"},
		}
		seen := map[string]string{}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				c.cfg.OSVersion = "test"
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				_, err := New(ctx, c.cfg)
				if !errors.Is(err, c.kind) {
					t.Fatalf("err = %v, want %v", err, c.kind)
				}
				if !strings.Contains(err.Error(), c.says) {
					t.Errorf("message lacks %q: %v", c.says, err)
				}
				if prev, ok := seen[err.Error()]; ok {
					t.Errorf("same message as %q: %v", prev, err)
				}
				seen[err.Error()] = c.name
			})
		}
	})
}
