package hash_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/hash"
	"github.com/imgraph/imgraph/engine/load"
)

func digestsOf(t *testing.T, root string) map[graph.NodeID]hash.NodeDigest {
	t.Helper()
	ws, err := load.Load(context.Background(), load.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Build(ws)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hash.New(root, nil, hash.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	d, err := h.Nodes(context.Background(), g, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Digests must not depend on what git does not record (permission bits
// other than the executable bit) nor on IMAGE.star formatting, so two
// checkouts agree and a comment edit rebuilds nothing.
func TestDigestIgnoresUmaskAndImageStarFormatting(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"WORKSPACE.star":      `workspace(platforms = ["linux/amd64"])`,
		"images/a/IMAGE.star": `image(version = "1")`,
		"images/a/Dockerfile": "FROM scratch\nCOPY f /f\n",
		"images/a/f":          "data\n",
	}
	for p, c := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := digestsOf(t, root)
	if err := os.Chmod(filepath.Join(root, "images/a/f"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "images/a/IMAGE.star"), []byte("# a comment\nimage(\n    version = \"1\",\n)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	after := digestsOf(t, root)
	for id, d := range before {
		if after[id].Digest != d.Digest {
			t.Errorf("%s changed on a chmod 0600 and an IMAGE.star reformat: parts %v -> %v", id, d.Parts, after[id].Parts)
		}
	}
	if err := os.Chmod(filepath.Join(root, "images/a/f"), 0o755); err != nil {
		t.Fatal(err)
	}
	exec := digestsOf(t, root)
	for id, d := range before {
		if exec[id].Digest == d.Digest {
			t.Errorf("%s did not change when a file became executable", id)
		}
	}
}

// The Go toolchain is an input of go_binary nodes only.
func TestGoVersionIsAPrebuildInput(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"WORKSPACE.star":      `workspace(platforms = ["linux/amd64"])`,
		"go.mod":              "module example.com/x\n",
		"images/a/IMAGE.star": `image(version = "1", prebuild = [go_binary(package = ".", out = "a")])`,
		"images/a/Dockerfile": "FROM scratch\nCOPY a /a\n",
		"images/a/main.go":    "package main\nfunc main() {}\n",
		"images/b/IMAGE.star": `image(version = "1")`,
		"images/b/Dockerfile": "FROM scratch\n",
	}
	for p, c := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := load.Load(context.Background(), load.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Build(ws)
	if err != nil {
		t.Fatal(err)
	}
	with := func(v string) map[graph.NodeID]hash.NodeDigest {
		h, err := hash.New(root, nil, hash.Options{GoVersion: v})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		d, err := h.Nodes(context.Background(), g, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	old, upgraded := with("go1.26.8"), with("go1.27.0")
	for id, d := range old {
		changed := upgraded[id].Digest != d.Digest
		if want := id.Label == "//a"; changed != want {
			t.Errorf("%s: changed on a toolchain upgrade = %v, want %v", id, changed, want)
		}
	}
}
