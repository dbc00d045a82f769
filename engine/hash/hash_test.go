package hash

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/platform"
	"github.com/imgraph/imgraph/internal/synth"
)

func loadGraph(t *testing.T, root string) *graph.Graph {
	t.Helper()
	ws, err := load.Load(context.Background(), load.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Build(ws)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// digests hashes every node of the workspace at root with a fresh Hasher.
func digests(t *testing.T, root string, opts Options) map[graph.NodeID]NodeDigest {
	t.Helper()
	g := loadGraph(t, root)
	h, err := New(root, os.DirFS(root), opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.Nodes(context.Background(), g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	return d
}

func changed(a, b map[graph.NodeID]NodeDigest) []graph.NodeID {
	var out []graph.NodeID
	for id, d := range a {
		if b[id].Digest != d.Digest {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(x, y graph.NodeID) int {
		if x.Less(y) {
			return -1
		}
		return 1
	})
	return out
}

// TestChangeRipples: in a synthetic workspace, changing one input of one
// image changes exactly that image's nodes and everything built on them.
func TestChangeRipples(t *testing.T) {
	cfg := synth.Config{Images: 30, FilesPerImage: 8, FileSize: 64, WindowsEvery: 5, ImageArgEvery: 4, GoBinaryEvery: 6}
	img := func(i int) string { return "images/" + synth.Label(i)[2:] }
	tests := []struct {
		name  string
		image int // the image whose nodes change directly (all platforms)
		edit  func(t *testing.T, root string)
	}{
		{"context file", 1, func(t *testing.T, root string) {
			appendFile(t, filepath.Join(root, img(1), "src/d3/file003.txt"), "!")
		}},
		{"Dockerfile", 2, func(t *testing.T, root string) { appendFile(t, filepath.Join(root, img(2), "Dockerfile"), "# x\n") }},
		{"IMAGE.star", 3, func(t *testing.T, root string) {
			replaceIn(t, filepath.Join(root, img(3), "IMAGE.star"), `"SYNTH_INDEX": "3"`, `"SYNTH_INDEX": "three"`)
		}},
		{"new context file", 4, func(t *testing.T, root string) {
			writeFiles(t, filepath.Join(root, img(4)), map[string]string{"src/new.txt": "n"})
		}},
		{"mode", 5, func(t *testing.T, root string) {
			if err := os.Chmod(filepath.Join(root, img(5), "src/d3/file003.txt"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"go_binary source", 6, func(t *testing.T, root string) { appendFile(t, filepath.Join(root, img(6), "cmd/main.go"), "\n") }},
		{"exception file in excluded dir", 7, func(t *testing.T, root string) {
			appendFile(t, filepath.Join(root, img(7), "testdata/keep.txt"), "!")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := synth.Generate(root, cfg); err != nil {
				t.Fatal(err)
			}
			before := digests(t, root, Options{})
			if again := digests(t, root, Options{}); !maps.EqualFunc(before, again, func(a, b NodeDigest) bool { return a.Digest == b.Digest }) {
				t.Fatal("same tree, different digests")
			}
			tc.edit(t, root)
			g := loadGraph(t, root)
			after := digests(t, root, Options{})
			direct, err := g.Select([]string{synth.Label(tc.image)})
			if err != nil {
				t.Fatal(err)
			}
			want := append(direct, g.ReverseDeps(direct)...)
			slices.SortFunc(want, func(x, y graph.NodeID) int {
				if x.Less(y) {
					return -1
				}
				return 1
			})
			if got := changed(before, after); !slices.Equal(got, want) {
				t.Errorf("changed nodes:\n got  %v\n want %v", got, want)
			}
			if len(g.ReverseDeps(direct)) == 0 && tc.image < 7 {
				t.Errorf("test workspace too small: %s has no dependants", synth.Label(tc.image))
			}
		})
	}
}

// TestIgnoredChangeKeepsDigest: files that .dockerignore excludes do not
// count; Parts say which input changed.
func TestIgnoredChangeKeepsDigest(t *testing.T) {
	root := t.TempDir()
	writeWorkspace(t, root)
	before := digests(t, root, Options{})
	appendFile(t, filepath.Join(root, "images/parent/scratch.tmp"), "x")
	if got := changed(before, digests(t, root, Options{})); len(got) != 0 {
		t.Errorf("excluded file changed digests of %v", got)
	}
	appendFile(t, filepath.Join(root, "images/parent/Dockerfile"), "# c\n")
	after := digests(t, root, Options{})
	id := graph.NodeID{Label: "//parent", Platform: mustPlatform(t, "linux/amd64")}
	for part, d := range after[id].Parts {
		if (before[id].Parts[part] != d) != (part == "dockerfile") {
			t.Errorf("part %s: before %s after %s", part, before[id].Parts[part], d)
		}
	}
	child := graph.NodeID{Label: "//child", Platform: id.Platform}
	for part, d := range after[child].Parts {
		if (before[child].Parts[part] != d) != (part == "base") {
			t.Errorf("child part %s: before %s after %s", part, before[child].Parts[part], d)
		}
	}
	appendFile(t, filepath.Join(root, "images/helper/Dockerfile"), "# c\n")
	final := digests(t, root, Options{})
	for part, d := range final[child].Parts {
		if (after[child].Parts[part] != d) != (part == "image_arg:HELPER") {
			t.Errorf("child part %s after helper change: before %s after %s", part, after[child].Parts[part], d)
		}
	}
	if after[child].Parts["base"] != after[id].Digest {
		t.Errorf("child's base part %s is not the parent's digest %s", after[child].Parts["base"], after[id].Digest)
	}
}

// TestFSAndRootAgree: hashing through an fs.FS (no root, no stat cache)
// gives the same digests as hashing the real tree.
func TestFSAndRootAgree(t *testing.T) {
	root := t.TempDir()
	writeWorkspace(t, root)
	want := digests(t, root, Options{})
	g := loadGraph(t, root)
	h, err := New("", os.DirFS(root), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Nodes(context.Background(), g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("got %d digests, want %d", len(got), len(want))
	}
	for id, d := range want {
		if got[id].Digest != d.Digest {
			t.Errorf("%s: fs.FS %s, root %s", id, got[id].Digest, d.Digest)
		}
	}
}

// TestSubsetIncludesDeps: asking for one node hashes its dependencies too,
// with the same digests as a full run.
func TestSubsetIncludesDeps(t *testing.T) {
	root := t.TempDir()
	writeWorkspace(t, root)
	all := digests(t, root, Options{})
	g := loadGraph(t, root)
	h, err := New(root, os.DirFS(root), Options{})
	if err != nil {
		t.Fatal(err)
	}
	child := graph.NodeID{Label: "//child", Platform: mustPlatform(t, "linux/arm64")}
	got, err := h.Nodes(context.Background(), g, []graph.NodeID{child})
	if err != nil {
		t.Fatal(err)
	}
	want := g.Closure([]graph.NodeID{child})
	if len(got) != len(want) {
		t.Errorf("got %d digests, want %d (%v)", len(got), len(want), want)
	}
	for _, id := range want {
		if got[id].Digest != all[id].Digest {
			t.Errorf("%s: %s, full run %s", id, got[id].Digest, all[id].Digest)
		}
	}
}

func TestSymlinks(t *testing.T) {
	root := t.TempDir()
	writeWorkspace(t, root)
	writeFiles(t, root, map[string]string{
		"images/parent/link":    "->src/a.txt",
		"images/parent/outside": "->/etc/passwd", // sent as a link, never followed
	})
	before := digests(t, root, Options{})
	// Retargeting a link changes the digest; the target's content does
	// not matter beyond the workspace.
	writeFiles(t, root, map[string]string{"images/parent/outside": "->/etc/hosts"})
	if got := changed(before, digests(t, root, Options{})); len(got) == 0 {
		t.Error("retargeted symlink did not change any digest")
	}

	// A context or Dockerfile reached through a symlink that leaves the
	// workspace is an error, not followed.
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"Dockerfile": "FROM scratch\n"})
	g := loadGraph(t, root)
	for _, n := range g.Nodes {
		if n.ID.Label == "//parent" {
			n.Decl.Dockerfile = "images/parent/evil/Dockerfile"
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "images/parent/evil")); err != nil {
		t.Fatal(err)
	}
	h, err := New(root, os.DirFS(root), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Nodes(context.Background(), g, nil); err == nil {
		t.Error("Dockerfile through a symlink out of the workspace: no error")
	}
}

func writeWorkspace(t *testing.T, root string) {
	writeFiles(t, root, map[string]string{
		"WORKSPACE.star":              `workspace(platforms = ["linux/amd64", "linux/arm64"])` + "\n",
		"images/parent/IMAGE.star":    `image(version = "1", base = "alpine:3.21")` + "\n",
		"images/parent/Dockerfile":    "FROM scratch\n",
		"images/parent/.dockerignore": "*.tmp\nDockerfile\n",
		"images/parent/scratch.tmp":   "t",
		"images/parent/src/a.txt":     "a",
		"images/helper/IMAGE.star":    `image(version = "1")` + "\n",
		"images/helper/Dockerfile":    "FROM scratch\n",
		"images/child/IMAGE.star":     `image(version = "1", base = "//parent", image_args = {"HELPER": "//helper"})` + "\n",
		"images/child/Dockerfile":     "ARG BASEIMAGE\nFROM $BASEIMAGE\n",
	})
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, p, old, new string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, old) {
		t.Fatalf("%s: no %q", p, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(s, old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustPlatform(t *testing.T, s string) platform.Platform {
	t.Helper()
	p, err := platform.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
