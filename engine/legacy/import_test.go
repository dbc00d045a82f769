package legacy

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/naming"
	"github.com/imgraph/imgraph/engine/platform"

	"github.com/imgraph/imgraph/internal/starfmt"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/*.golden")

// importTree imports testdata/<name> into a fresh directory.
func importTree(t *testing.T, name string) (*Report, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "ws")
	rep, err := Import(context.Background(), Options{Source: filepath.Join("testdata", name), Out: out})
	if err != nil {
		t.Fatalf("Import(%s): %v", name, err)
	}
	return rep, out
}

// TestGolden compares every .star file and rewritten Dockerfile the import
// writes, and the text report, with testdata/<tree>.golden.
func TestGolden(t *testing.T) {
	for _, tree := range []string{"k8s", "broken"} {
		t.Run(tree, func(t *testing.T) {
			rep, out := importTree(t, tree)
			got := map[string][]byte{}
			err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(out, p)
				rel = filepath.ToSlash(rel)
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				// Goldens hold what the import generated or changed, not plain copies.
				orig, err := os.ReadFile(filepath.Join("testdata", tree, strings.TrimPrefix(rel, "images/")))
				if err == nil && bytes.Equal(orig, b) {
					return nil
				}
				got[rel] = b
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var txt bytes.Buffer
			rep.WriteText(&txt)
			got["report.txt"] = bytes.ReplaceAll(txt.Bytes(), []byte(out), []byte("OUT"))
			dir := filepath.Join("testdata", tree+".golden")
			if *update {
				os.RemoveAll(dir)
				for rel, b := range got {
					p := filepath.Join(dir, filepath.FromSlash(rel))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			want := map[string][]byte{}
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				want[filepath.ToSlash(rel)], _ = os.ReadFile(p)
				return nil
			})
			for rel, w := range want {
				g, ok := got[rel]
				if !ok {
					t.Errorf("%s: not written (golden has it); run go test -update if intended", rel)
					continue
				}
				if !bytes.Equal(g, w) {
					t.Errorf("%s differs from golden (run go test ./engine/legacy -update to accept):\n--- got\n%s\n--- want\n%s", rel, g, w)
				}
			}
			for rel := range got {
				if _, ok := want[rel]; !ok {
					t.Errorf("%s: written but not in golden; run go test -update if intended", rel)
				}
			}
		})
	}
}

// TestStarFilesAreFormatted: what the importer writes is stable under
// buildifier formatting (imgraph fmt --check passes).
func TestStarFilesAreFormatted(t *testing.T) {
	_, out := importTree(t, "k8s")
	n := 0
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".star") {
			return err
		}
		n++
		b, _ := os.ReadFile(p)
		got, err := starfmt.Source(p, b) // exactly what `imgraph fmt` does
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s is not formatted:\n%s\nformatted:\n%s", p, b, got)
		}
		return nil
	})
	if n < 5 {
		t.Fatalf("only %d .star files written", n)
	}
}

// legacyNames is an independent model of what the legacy image-util.sh
// publishes for a tree: per image directory with a VERSION, the BASEIMAGE
// keys (cut -d= -f1) or the five default Linux platforms, repository from
// ALIAS, tags VERSION-<key with / as ->. Images the script fails on (a key
// without '/', no Dockerfile for a platform) publish nothing.
func legacyNames(t *testing.T, root, registry string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		v, err := os.ReadFile(filepath.Join(p, "VERSION"))
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		repo := filepath.ToSlash(rel)
		if a, err := os.ReadFile(filepath.Join(p, "ALIAS")); err == nil {
			repo = strings.TrimSpace(string(a))
		}
		keys := []string{"linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "linux/s390x"}
		if b, err := os.ReadFile(filepath.Join(p, "BASEIMAGE")); err == nil {
			keys = nil
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				keys = append(keys, strings.SplitN(line, "=", 2)[0])
			}
		}
		var names []string
		for _, k := range keys {
			df := "Dockerfile"
			if strings.HasPrefix(k, "windows/") {
				if _, err := os.Stat(filepath.Join(p, "Dockerfile_windows")); err == nil {
					df = "Dockerfile_windows"
				}
			}
			if _, err := os.Stat(filepath.Join(p, df)); err != nil || !strings.Contains(k, "/") {
				return nil // the legacy build of this image fails
			}
			names = append(names, registry+"/"+repo+":"+strings.TrimSpace(string(v))+"-"+strings.ReplaceAll(k, "/", "-"))
		}
		out = append(out, names...)
		out = append(out, registry+"/"+repo+":"+strings.TrimSpace(string(v)))
		return nil
	})
	sort.Strings(out)
	return out
}

func loadGraph(t *testing.T, root, registry string) *graph.Graph {
	t.Helper()
	ws, err := load.Load(context.Background(), load.Options{Root: root, Registry: registry})
	if err != nil {
		t.Fatalf("load imported workspace: %v", err)
	}
	g, err := graph.Build(ws)
	if err != nil {
		t.Fatalf("graph of imported workspace: %v", err)
	}
	return g
}

// TestRoundTripNames: the imported workspace publishes exactly the
// per-platform tags and manifest lists the legacy script would have (the
// same computation `imgraph query images` prints).
func TestRoundTripNames(t *testing.T) {
	const reg = "registry.example/e2e"
	for _, tree := range []string{"k8s", "broken"} {
		t.Run(tree, func(t *testing.T) {
			_, out := importTree(t, tree)
			g := loadGraph(t, out, reg)
			seen := map[string]bool{}
			var got []string
			add := func(s string) {
				if !seen[s] {
					seen[s] = true
					got = append(got, s)
				}
			}
			for _, n := range g.Nodes {
				add(naming.PlatformRef(reg, n.Image.Repository, n.Image.Version, n.ID.Platform))
				add(naming.ListRef(reg, n.Image.Repository, n.Image.Version))
			}
			sort.Strings(got)
			want := legacyNames(t, filepath.Join("testdata", tree), reg)
			if tree == "broken" {
				// The legacy script builds these (it does not know the parent
				// lacks s390x, nor that not-here is missing); the import refuses them.
				want = filter(want, "/child:", "/grandchild:", "/external:")
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("published names differ\n--- imported\n%s\n--- legacy\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func filter(xs []string, drop ...string) []string {
	var out []string
next:
	for _, x := range xs {
		for _, d := range drop {
			if strings.Contains(x, d) {
				continue next
			}
		}
		out = append(out, x)
	}
	return out
}

// TestHiddenEdges: the dependencies the legacy layout hid in BASEIMAGE
// values and Dockerfile FROM lines are graph edges after the import.
func TestHiddenEdges(t *testing.T) {
	_, out := importTree(t, "k8s")
	g := loadGraph(t, out, "")
	id := func(s string) graph.NodeID {
		l, p, _ := strings.Cut(s, "@")
		pl, err := platform.Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		return graph.NodeID{Label: label.Label("//" + strings.TrimPrefix(l, "//")), Platform: pl}
	}
	tests := []struct {
		node string
		deps []string // direct deps as "to kind [arg]"
	}{
		{"//kitten@linux/arm64", []string{"//agnhost@linux/arm64 base"}},
		{"//kitten@windows/amd64/ltsc2022", []string{"//agnhost@windows/amd64/ltsc2022 base"}},
		{"//agnhost@windows/amd64/1809", []string{"//windows-servercore-cache@linux/amd64/1809 image_arg WINDOWS_SERVERCORE_CACHE_IMAGE"}},
		{"//agnhost@linux/amd64", nil},
		{"//nautilus@linux/s390x", []string{"//agnhost@linux/s390x image_arg AGNHOST_IMAGE"}},
		{"//httpd@linux/arm", nil},
	}
	for _, tt := range tests {
		n, ok := g.Node(id(tt.node))
		if !ok {
			t.Errorf("%s: no such node", tt.node)
			continue
		}
		var got []string
		for _, e := range n.Deps {
			got = append(got, strings.TrimSpace(e.To.String()+" "+string(e.Kind)+" "+e.Arg))
		}
		if strings.Join(got, "; ") != strings.Join(tt.deps, "; ") {
			t.Errorf("%s deps = %q, want %q", tt.node, got, tt.deps)
		}
	}
	// Transitively, kitten's Windows variant needs the servercore helper.
	deps := g.Deps([]graph.NodeID{id("//kitten@windows/amd64/ltsc2022")})
	var ds []string
	for _, d := range deps {
		ds = append(ds, d.String())
	}
	if !contains(ds, "//windows-servercore-cache@linux/amd64/ltsc2022") {
		t.Errorf("deps of //kitten@windows/amd64/ltsc2022 = %v, want the servercore helper among them", ds)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := copyTree(src, dst, nil); err != nil {
		t.Fatal(err)
	}
}

// TestInPlace: IMAGE.star is written beside the legacy files, the legacy
// files stay, only rewritten Dockerfiles change, and a second run refuses
// to replace anything without Force.
func TestInPlace(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "test", "images")
	copyDir(t, filepath.Join("testdata", "k8s"), src)
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := map[string]string{}
	for _, f := range []string{"agnhost/VERSION", "agnhost/BASEIMAGE", "agnhost/Dockerfile", "kitten/Dockerfile", "old-arch/BASEIMAGE"} {
		before[f] = read(f)
	}
	rep, err := Import(context.Background(), Options{Source: src, Out: root, InPlace: true})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, e := range rep.Errors {
		failed = append(failed, e.Image)
	}
	if strings.Join(failed, " ") != "//no-dockerfile //old-arch" {
		t.Fatalf("errors = %v, want only the two broken fixtures", rep.Errors)
	}
	if !strings.Contains(read("../../WORKSPACE.star"), `images = "test/images"`) {
		t.Errorf("WORKSPACE.star does not point at the legacy tree:\n%s", read("../../WORKSPACE.star"))
	}
	for f, b := range before {
		got := read(f)
		if f == "agnhost/Dockerfile" {
			if got == b || !strings.Contains(got, "${TARGETARCH}") {
				t.Errorf("%s not rewritten:\n%s", f, got)
			}
			continue
		}
		if got != b {
			t.Errorf("%s changed in place", f)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "old-arch", "IMAGE.star")); err == nil {
		t.Errorf("IMAGE.star written for an image that failed")
	}
	g := loadGraph(t, root, "r.example")
	if len(g.Nodes) == 0 {
		t.Fatal("no nodes")
	}
	agn := read("agnhost/IMAGE.star")
	rep2, err := Import(context.Background(), Options{Source: src, Out: root, InPlace: true})
	if err != nil {
		t.Fatal(err)
	}
	msgs := ""
	for _, e := range rep2.Errors {
		msgs += e.String() + "\n"
	}
	if !strings.Contains(msgs, "agnhost/IMAGE.star: already exists") || !strings.Contains(msgs, "WORKSPACE.star already exists") {
		t.Errorf("second run errors:\n%s", msgs)
	}
	if read("agnhost/IMAGE.star") != agn {
		t.Errorf("second run replaced IMAGE.star without Force")
	}
}

func TestNoImages(t *testing.T) {
	_, err := Import(context.Background(), Options{Source: t.TempDir(), Out: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), ErrNoImages.Error()) {
		t.Fatalf("err = %v, want ErrNoImages", err)
	}
}
