package vcs_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/imgraph/imgraph/engine/vcs"
	"github.com/imgraph/imgraph/engine/vcs/vcstest"
)

func TestTreeFS(t *testing.T) {
	ctx := context.Background()
	g := vcstest.New(t)
	g.Write(map[string]string{
		"README":                   "top\n",
		"ws/WORKSPACE.star":        "workspace()\n",
		"ws/images/a/IMAGE.star":   "image(version = \"1\")\n",
		"ws/images/a/Dockerfile":   "FROM scratch\n",
		"ws/images/a/sub/data.txt": "old",
	})
	if err := os.Symlink("../a/Dockerfile", filepath.Join(g.Dir, "ws/images/a/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(g.Dir, "ws/images/a/run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := g.Commit("base")
	g.Write(map[string]string{"ws/images/a/sub/data.txt": "new"})
	g.Commit("head")

	repo, err := vcs.Open(ctx, filepath.Join(g.Dir, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if repo.Prefix != "ws" {
		t.Fatalf("prefix = %q, want ws", repo.Prefix)
	}
	id, err := repo.Resolve(ctx, "HEAD~1")
	if err != nil || id != base {
		t.Fatalf("Resolve(HEAD~1) = %q, %v; want %s", id, err, base)
	}
	tree, err := repo.TreeFS(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	// The generic fs.FS conformance checks, then specific reads.
	if err := fstest.TestFS(tree, "WORKSPACE.star", "images/a/IMAGE.star", "images/a/sub/data.txt", "images/a/link", "images/a/run.sh"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"images/a/sub/data.txt": "old",
		"images/a/link":         "FROM scratch\n",
		"WORKSPACE.star":        "workspace()\n",
	} {
		got, err := fs.ReadFile(tree, name)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := fs.Stat(tree, "README"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file outside the prefix is visible: %v", err)
	}
	fi, err := tree.Lstat("images/a/link")
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(link) = %v, %v; want a symlink", fi, err)
	}
	if target, err := tree.ReadLink("images/a/link"); err != nil || target != "../a/Dockerfile" {
		t.Errorf("ReadLink = %q, %v", target, err)
	}
	if fi, err := fs.Stat(tree, "images/a/run.sh"); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode = %v, %v; want 0755", fi, err)
	}
	if a, _ := tree.BlobID("images/a/Dockerfile"); a == "" {
		t.Error("no blob id for a file")
	}
}

func TestChanged(t *testing.T) {
	ctx := context.Background()
	g := vcstest.New(t)
	g.Write(map[string]string{"x/keep": "1", "x/mod": "1", "x/del": "1", "y/other": "1"})
	base := g.Commit("base")
	g.Write(map[string]string{"x/mod": "2", "x/add": "1"})
	g.Remove("x/del")
	head := g.Commit("head")
	g.Write(map[string]string{"x/keep": "dirty", "x/untracked": "u"})

	repo, err := vcs.Open(ctx, filepath.Join(g.Dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		head string
		want []vcs.Change
	}{
		{head, []vcs.Change{{"A", "add"}, {"D", "del"}, {"M", "mod"}}},
		{"", []vcs.Change{{"A", "add"}, {"D", "del"}, {"M", "keep"}, {"M", "mod"}, {"A", "untracked"}}},
	}
	for _, tc := range tests {
		got, err := repo.Changed(ctx, base, tc.head)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Changed(base, %q) = %v, want %v", tc.head, got, tc.want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	ctx := context.Background()
	g := vcstest.New(t)
	g.Write(map[string]string{"f": "1"})
	g.Commit("one")
	g.Write(map[string]string{"f": "2"})
	g.Commit("two")
	g.Write(map[string]string{"f": "3"})
	g.Commit("three")

	clone := t.TempDir()
	vcstest.New(t).Git("clone", "-q", "--depth=1", "file://"+g.Dir, clone)

	tests := []struct {
		dir, rev    string
		shallow     bool
		wantInError string
	}{
		{g.Dir, "no-such-branch", false, "git fetch origin no-such-branch"},
		{clone, "HEAD~2", true, "git fetch --unshallow"},
	}
	for _, tc := range tests {
		repo, err := vcs.Open(ctx, tc.dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = repo.Resolve(ctx, tc.rev)
		var re *vcs.RevError
		if !errors.As(err, &re) || re.Shallow != tc.shallow || !strings.Contains(err.Error(), tc.wantInError) {
			t.Errorf("Resolve(%s) in %s: %v; want a RevError (shallow=%v) mentioning %q", tc.rev, tc.dir, err, tc.shallow, tc.wantInError)
		}
	}
	if _, err := vcs.Open(ctx, t.TempDir()); !errors.Is(err, vcs.ErrNotRepo) {
		t.Errorf("Open outside a repository: %v, want ErrNotRepo", err)
	}
}
