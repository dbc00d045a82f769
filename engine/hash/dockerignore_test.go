package hash

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tonistiigi/fsutil"
)

// writeFiles creates files below dir; a value starting with "->" makes a
// symlink to the rest, a key ending in "/" an empty directory.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if strings.HasSuffix(rel, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Remove(p)
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// contextPaths lists what the hasher puts in the context of ctxDir.
func contextPaths(t *testing.T, root, ctxDir, dockerfile string) []string {
	t.Helper()
	h, err := New(root, os.DirFS(root), Options{})
	if err != nil {
		t.Fatal(err)
	}
	pats, err := h.ignorePatterns(dockerfile, ctxDir)
	if err != nil {
		t.Fatal(err)
	}
	tr := &tree{dir: ctxDir, excludes: pats}
	if err := h.walk(tr); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range tr.entries {
		out = append(out, e.rel)
	}
	return out
}

// buildkitPaths lists what BuildKit's fsutil sends for the same patterns.
func buildkitPaths(t *testing.T, dir string, patterns []string) []string {
	t.Helper()
	var out []string
	err := fsutil.Walk(context.Background(), dir, &fsutil.FilterOpt{ExcludePatterns: patterns}, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestDockerignore(t *testing.T) {
	base := map[string]string{
		"Dockerfile":          "FROM scratch\n",
		"main.go":             "package main\n",
		"notes.tmp":           "x",
		"src/a.go":            "a",
		"src/b.tmp":           "b",
		"src/deep/c.go":       "c",
		"testdata/keep.txt":   "k",
		"testdata/big.bin":    "big",
		"testdata/sub/x.txt":  "x",
		"docs/keep/readme.md": "r",
		"docs/other.md":       "o",
		"empty/":              "",
	}
	tests := []struct {
		name   string
		ignore string
		want   []string
	}{
		{"none", "", []string{"Dockerfile", "docs", "docs/keep", "docs/keep/readme.md", "docs/other.md", "empty", "main.go", "notes.tmp", "src", "src/a.go", "src/b.tmp", "src/deep", "src/deep/c.go", "testdata", "testdata/big.bin", "testdata/keep.txt", "testdata/sub", "testdata/sub/x.txt"}},
		{"root glob only matches at the root", "*.tmp", []string{".dockerignore", "Dockerfile", "docs", "docs/keep", "docs/keep/readme.md", "docs/other.md", "empty", "main.go", "src", "src/a.go", "src/b.tmp", "src/deep", "src/deep/c.go", "testdata", "testdata/big.bin", "testdata/keep.txt", "testdata/sub", "testdata/sub/x.txt"}},
		{"double star matches anywhere", "**/*.tmp", []string{".dockerignore", "Dockerfile", "docs", "docs/keep", "docs/keep/readme.md", "docs/other.md", "empty", "main.go", "src", "src/a.go", "src/deep", "src/deep/c.go", "testdata", "testdata/big.bin", "testdata/keep.txt", "testdata/sub", "testdata/sub/x.txt"}},
		{"excluded directory", "testdata\nempty", []string{".dockerignore", "Dockerfile", "docs", "docs/keep", "docs/keep/readme.md", "docs/other.md", "main.go", "notes.tmp", "src", "src/a.go", "src/b.tmp", "src/deep", "src/deep/c.go"}},
		{"exception re-includes a file in an excluded directory", "testdata\n!testdata/keep.txt", []string{".dockerignore", "Dockerfile", "docs", "docs/keep", "docs/keep/readme.md", "docs/other.md", "empty", "main.go", "notes.tmp", "src", "src/a.go", "src/b.tmp", "src/deep", "src/deep/c.go", "testdata", "testdata/keep.txt"}},
		{"everything but one directory", "*\n!src", []string{"src", "src/a.go", "src/b.tmp", "src/deep", "src/deep/c.go"}},
		{"wildcard exception", "docs\n!**/keep", []string{".dockerignore", "Dockerfile", "docs", "docs/keep", "docs/keep/readme.md", "empty", "main.go", "notes.tmp", "src", "src/a.go", "src/b.tmp", "src/deep", "src/deep/c.go", "testdata", "testdata/big.bin", "testdata/keep.txt", "testdata/sub", "testdata/sub/x.txt"}},
		{"Dockerfile and .dockerignore excluded", "Dockerfile\n.dockerignore\n/docs/\n# comment\n", []string{"empty", "main.go", "notes.tmp", "src", "src/a.go", "src/b.tmp", "src/deep", "src/deep/c.go", "testdata", "testdata/big.bin", "testdata/keep.txt", "testdata/sub", "testdata/sub/x.txt"}},
		{"later pattern wins", "src\n!src/deep\nsrc/deep/c.go", []string{".dockerignore", "Dockerfile", "docs", "docs/keep", "docs/keep/readme.md", "docs/other.md", "empty", "main.go", "notes.tmp", "src", "src/deep", "testdata", "testdata/big.bin", "testdata/keep.txt", "testdata/sub", "testdata/sub/x.txt"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, base)
			if tc.ignore != "" {
				writeFiles(t, root, map[string]string{".dockerignore": tc.ignore})
			}
			got := contextPaths(t, root, ".", "Dockerfile")
			if !slices.Equal(got, tc.want) {
				t.Errorf("context:\n got  %q\n want %q", got, tc.want)
			}
			// And BuildKit agrees.
			h, _ := New(root, os.DirFS(root), Options{})
			pats, err := h.ignorePatterns("Dockerfile", ".")
			if err != nil {
				t.Fatal(err)
			}
			if bk := buildkitPaths(t, root, pats); !slices.Equal(got, bk) {
				t.Errorf("differs from BuildKit's fsutil:\n got      %q\n buildkit %q", got, bk)
			}
		})
	}
}

// TestDockerfileIgnoreFile: <Dockerfile>.dockerignore beside the
// Dockerfile takes precedence over the context's .dockerignore, as in
// BuildKit's Dockerfile frontend.
func TestDockerfileIgnoreFile(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"img/Dockerfile":                      "FROM scratch\n",
		"img/Dockerfile_windows":              "FROM scratch\n",
		"img/Dockerfile_windows.dockerignore": "linux-only\n",
		"img/.dockerignore":                   "windows-only\n",
		"img/linux-only":                      "l",
		"img/windows-only":                    "w",
	})
	for _, tc := range []struct {
		dockerfile string
		want       []string
	}{
		{"img/Dockerfile", []string{".dockerignore", "Dockerfile", "Dockerfile_windows", "Dockerfile_windows.dockerignore", "linux-only"}},
		{"img/Dockerfile_windows", []string{".dockerignore", "Dockerfile", "Dockerfile_windows", "Dockerfile_windows.dockerignore", "windows-only"}},
	} {
		if got := contextPaths(t, root, "img", tc.dockerfile); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.dockerfile, got, tc.want)
		}
	}
}

type recordingSource struct {
	source
	dirs []string
}

func (r *recordingSource) readDir(dir string) ([]dirent, error) {
	r.dirs = append(r.dirs, dir)
	return r.source.readDir(dir)
}

// TestExcludedDirNotWalked: an excluded directory is read only when an
// exception pattern could re-include something below it.
func TestExcludedDirNotWalked(t *testing.T) {
	for _, tc := range []struct {
		ignore string
		read   []string
	}{
		{"secret\n", []string{".", "pub"}},
		{"secret\n!secret/ok", []string{".", "pub", "secret"}},
		{"secret\n!pub/x", []string{".", "pub"}},
		{"secret\n!**/ok", []string{".", "pub", "secret"}}, // a wildcard exception could match anywhere
	} {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{".dockerignore": tc.ignore, "Dockerfile": "x", "secret/ok": "s", "pub/x": "p"})
		h, err := New(root, os.DirFS(root), Options{})
		if err != nil {
			t.Fatal(err)
		}
		rec := &recordingSource{source: h.src}
		h.src = rec
		pats, err := h.ignorePatterns("Dockerfile", ".")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.walk(&tree{dir: ".", excludes: pats}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rec.dirs, tc.read) {
			t.Errorf("%q: read directories %q, want %q", tc.ignore, rec.dirs, tc.read)
		}
	}
}
