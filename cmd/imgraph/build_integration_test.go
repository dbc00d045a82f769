package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// These tests drive the real stack: buildkitd and the loopback registry
// that hack/local-stack.sh starts (CI runs it before the tests).
func stackEnv(t *testing.T) string {
	t.Helper()
	reg := os.Getenv("IMGRAPH_TEST_REGISTRY")
	if reg == "" || os.Getenv("BUILDKIT_HOST") == "" {
		t.Skip("needs the local stack: eval \"$(hack/local-stack.sh env)\"")
	}
	b := make([]byte, 4)
	rand.Read(b)
	return reg + "/t" + hex.EncodeToString(b)
}

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runWith(append([]string{"imgraph"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildWorkspace: a busybox root from Debian's package (a foreign-arch RUN
// through QEMU), a child on it, and an unrelated image.
func buildWorkspace(t *testing.T) string {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"WORKSPACE.star": `workspace(platforms = ["linux/amd64", "linux/arm64"])` + "\n",
		"images/root/IMAGE.star": `image(
    version = "1.0",
    prebuild = [deb_file(package = "busybox-static", path = "bin/busybox", out = "busybox")],
)
`,
		"images/root/Dockerfile": "ARG BASEIMAGE\nFROM $BASEIMAGE\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox uname -m > /arch\"]\nCOPY data.txt /data.txt\n",
		"images/root/data.txt":   "v1\n",
		"images/child/IMAGE.star": `image(version = "2.0", base = "//root")
`,
		"images/child/Dockerfile": "ARG BASEIMAGE\nFROM $BASEIMAGE\nCOPY hello.txt /hello.txt\n",
		"images/child/hello.txt":  "hello\n",
		"images/other/IMAGE.star": `image(version = "0.1")
`,
		"images/other/Dockerfile": "FROM scratch\nCOPY x /x\n",
		"images/other/x":          "x\n",
	})
	return root
}

type buildSummary struct {
	Nodes []struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		Digest string `json:"digest"`
		Error  string `json:"error"`
	} `json:"nodes"`
	Built    int `json:"built"`
	UpToDate int `json:"up_to_date"`
	Failed   int `json:"failed"`
}

func parseSummary(t *testing.T, out string) (buildSummary, map[string]string) {
	t.Helper()
	var s buildSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	states := map[string]string{}
	for _, n := range s.Nodes {
		states[n.ID] = n.State
	}
	return s, states
}

func fileInImage(t *testing.T, ref, file string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	return fileInV1Image(t, img, file)
}

func TestBuildPushSkipRebuild(t *testing.T) {
	reg := stackEnv(t)
	ws := buildWorkspace(t)
	common := []string{"--workspace", ws, "--registry", reg, "build", "--push", "--progress", "quiet", "--output", "json"}

	out, errOut, code := runCLI(t, common...)
	if code != 0 {
		t.Fatalf("cold build: exit %d\n%s\n%s", code, out, errOut)
	}
	s, states := parseSummary(t, out)
	if s.Built != 6 || s.UpToDate != 0 {
		t.Fatalf("cold build: built %d, up to date %d, want 6 and 0: %v", s.Built, s.UpToDate, states)
	}
	// The arm64 RUN step really ran on arm64, through QEMU.
	if got := strings.TrimSpace(fileInImage(t, reg+"/root:1.0-linux-arm64", "arch")); got != "aarch64" {
		t.Errorf("arm64 RUN step ran as %q, want aarch64", got)
	}
	if got := fileInImage(t, reg+"/child:2.0-linux-amd64", "data.txt"); got != "v1\n" {
		t.Errorf("child does not build on its parent: data.txt = %q", got)
	}
	// The manifest list names exactly the declared platforms.
	ref, _ := name.ParseReference(reg+"/child:2.0", name.Insecure)
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("manifest list: %v", err)
	}
	im, _ := idx.IndexManifest()
	var plats []string
	for _, m := range im.Manifests {
		plats = append(plats, m.Platform.String())
	}
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("manifest list platforms = %v", plats)
	}

	// Nothing changed: every node is up to date and nothing builds.
	out, errOut, code = runCLI(t, common...)
	if code != 0 {
		t.Fatalf("no-op build: exit %d\n%s", code, errOut)
	}
	s, states = parseSummary(t, out)
	if s.Built != 0 || s.UpToDate != 6 {
		t.Fatalf("no-op build: built %d, up to date %d: %v", s.Built, s.UpToDate, states)
	}

	// One file of the root changes: exactly root and child rebuild.
	writeFiles(t, ws, map[string]string{"images/root/data.txt": "v2\n"})
	out, errOut, code = runCLI(t, common...)
	if code != 0 {
		t.Fatalf("rebuild: exit %d\n%s", code, errOut)
	}
	s, states = parseSummary(t, out)
	for id, st := range states {
		want := "built"
		if strings.HasPrefix(id, "//other@") {
			want = "up to date"
		}
		if st != want {
			t.Errorf("after changing root: %s is %q, want %q", id, st, want)
		}
	}
	if got := fileInImage(t, reg+"/child:2.0-linux-arm64", "data.txt"); got != "v2\n" {
		t.Errorf("child was not rebuilt on the new parent: data.txt = %q", got)
	}
}

func TestBuildFailureSkipsDependantsAndKeepsList(t *testing.T) {
	reg := stackEnv(t)
	ws := buildWorkspace(t)
	common := []string{"--workspace", ws, "--registry", reg, "build", "--push", "--progress", "quiet", "--output", "json", "--platform", "linux/amd64", "--allow-missing-platforms"}
	writeFiles(t, ws, map[string]string{"images/root/Dockerfile": "FROM scratch\nCOPY does-not-exist /x\n"})
	out, errOut, code := runCLI(t, common...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	_, states := parseSummary(t, out)
	if states["//root@linux/amd64"] != "failed" || states["//child@linux/amd64"] != "skipped" || states["//other@linux/amd64"] != "built" {
		t.Errorf("states = %v", states)
	}
	if !strings.Contains(out, "does-not-exist") {
		t.Errorf("the failing step is not named in the report:\n%s", out)
	}
	for _, repo := range []string{"root:1.0", "child:2.0"} {
		ref, _ := name.ParseReference(reg+"/"+repo, name.Insecure)
		if _, err := remote.Head(ref); err == nil {
			t.Errorf("manifest list %s was written although its image failed", repo)
		}
	}
}

func TestBuildNoDaemon(t *testing.T) {
	reg := stackEnv(t)
	ws := buildWorkspace(t)
	_, errOut, code := runCLI(t, "--workspace", ws, "--registry", reg, "build", "--progress", "quiet", "--buildkit-addr", "unix:///nonexistent/buildkitd.sock", "//other")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "/nonexistent/buildkitd.sock") || !strings.Contains(errOut, "hack/local-stack.sh up") || strings.Contains(errOut, "goroutine") {
		t.Errorf("unclear message for a missing daemon:\n%s", errOut)
	}
}

// With no registry at all, images go into a local OCI layout and children
// build on their parents from it.
func TestBuildNoRegistryUsesLocalLayout(t *testing.T) {
	stackEnv(t)
	t.Setenv("REGISTRY", "")
	ws := buildWorkspace(t)
	args := []string{"--workspace", ws, "build", "--progress", "quiet", "--output", "json", "--platform", "linux/arm64"}
	out, errOut, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	s, states := parseSummary(t, out)
	if s.Built != 3 {
		t.Fatalf("built %d, want 3: %v", s.Built, states)
	}
	dir := filepath.Join(ws, ".imgraph", "oci")
	if !strings.Contains(errOut, dir) {
		t.Errorf("the report does not say where the images are:\n%s", errOut)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	im, _ := idx.IndexManifest()
	var child v1.Hash
	for _, m := range im.Manifests {
		if m.Annotations["org.opencontainers.image.ref.name"] == "imgraph.local/child:2.0-linux-arm64" {
			child = m.Digest
		}
	}
	if child.Hex == "" {
		t.Fatalf("child not in the layout index: %+v", im.Manifests)
	}
	img, err := idx.Image(child)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileInV1Image(t, img, "data.txt"); got != "v1\n" {
		t.Errorf("child does not contain its parent's file: %q", got)
	}
	out, errOut, code = runCLI(t, args...)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, errOut)
	}
	if s, states := parseSummary(t, out); s.UpToDate != 3 {
		t.Errorf("second run: %v", states)
	}
	if _, errOut, code := runCLI(t, "--workspace", ws, "build", "--push"); code != 2 || !strings.Contains(errOut, "--registry") {
		t.Errorf("--push without a registry: exit %d\n%s", code, errOut)
	}
}

func fileInV1Image(t *testing.T, img v1.Image, file string) string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i := len(layers) - 1; i >= 0; i-- {
		rc, err := layers[i].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if strings.TrimPrefix(h.Name, "./") == file {
				b, _ := io.ReadAll(tr)
				rc.Close()
				return string(b)
			}
		}
		rc.Close()
	}
	t.Fatalf("image has no %s", file)
	return ""
}

// Attestations are off by default (plain manifests under per-platform
// tags); with --provenance the tag holds an index with the attestation,
// and skipping and the published list still see through it.
func TestBuildProvenanceIsExplicit(t *testing.T) {
	reg := stackEnv(t)
	ws := buildWorkspace(t)
	args := []string{"--workspace", ws, "--registry", reg, "build", "//other", "--push", "--progress", "quiet", "--output", "json"}
	kind := func(ref string) types.MediaType {
		t.Helper()
		r, _ := name.ParseReference(ref, name.Insecure)
		d, err := remote.Head(r)
		if err != nil {
			t.Fatal(err)
		}
		return d.MediaType
	}
	if out, errOut, code := runCLI(t, args...); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if mt := kind(reg + "/other:0.1-linux-amd64"); mt.IsIndex() {
		t.Errorf("without --provenance the per-platform tag is %s, want a plain manifest", mt)
	}
	out, errOut, code := runCLI(t, append(args, "--provenance", "--no-cache")...)
	if code != 0 {
		t.Fatalf("--provenance: exit %d\n%s\n%s", code, out, errOut)
	}
	if mt := kind(reg + "/other:0.1-linux-amd64"); !mt.IsIndex() {
		t.Errorf("with --provenance the per-platform tag is %s, want an index with an attestation", mt)
	}
	r, _ := name.ParseReference(reg+"/other:0.1", name.Insecure)
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" {
			t.Errorf("attestation leaked into the manifest list: %+v", m)
		}
	}
	if len(im.Manifests) != 2 {
		t.Errorf("manifest list has %d entries, want 2", len(im.Manifests))
	}
	out, _, code = runCLI(t, args...)
	if s, states := parseSummary(t, out); code != 0 || s.UpToDate != 2 {
		t.Errorf("rerun after --provenance: exit %d, %v", code, states)
	}
}
