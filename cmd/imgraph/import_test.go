package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// cliOut runs the app (runCLI, shared with the build tests) and returns
// stdout and stderr together with the exit status.
func cliOut(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, errOut, code := runCLI(t, args...)
	return out + errOut, code
}

func TestImportCommand(t *testing.T) {
	fixtures := filepath.Join("..", "..", "engine", "legacy", "testdata")
	good := t.TempDir() // the two images of the broken tree that import
	for _, f := range []string{"parent/VERSION", "parent/BASEIMAGE", "parent/Dockerfile", "sibling/VERSION", "sibling/BASEIMAGE", "sibling/Dockerfile"} {
		b, err := os.ReadFile(filepath.Join(fixtures, "broken", f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(good, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(good, f), b, 0o644)
	}
	nonEmpty := t.TempDir()
	os.WriteFile(filepath.Join(nonEmpty, "x"), nil, 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no images", []string{"import", filepath.Join(fixtures, "broken", "parent"), "--out", filepath.Join(t.TempDir(), "a")}, 2, "no image directories"},
		{"all imported", []string{"import", good, "--out", filepath.Join(t.TempDir(), "a")}, 0, "Imported 2 of 2 images"},
		{"flags first", []string{"import", "--out", filepath.Join(t.TempDir(), "a"), good}, 0, "Imported 2 of 2 images"},
		{"some failed", []string{"import", filepath.Join(fixtures, "broken"), "--out", filepath.Join(t.TempDir(), "b")}, 1, "Imported 2 of 5 images"},
		{"json", []string{"import", "--output", "json", filepath.Join(fixtures, "broken"), "--out", filepath.Join(t.TempDir(), "c")}, 1, `"status": "failed"`},
		{"missing dir", []string{"import", filepath.Join(fixtures, "nope"), "--out", t.TempDir()}, 2, "is not a directory"},
		{"no out", []string{"import", filepath.Join(fixtures, "broken")}, 2, "give --out"},
		{"out not empty", []string{"import", filepath.Join(fixtures, "broken"), "--out", nonEmpty}, 2, "not empty"},
		{"out inside source", []string{"import", filepath.Join(fixtures, "broken"), "--out", filepath.Join(fixtures, "broken", "ws")}, 2, "inside LEGACY_DIR"},
		{"bad output", []string{"import", "--output", "yaml", filepath.Join(fixtures, "broken"), "--out", t.TempDir()}, 2, "want text or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := cliOut(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want %d; output:\n%s\nwant it to contain %q", code, tt.code, out, tt.want)
			}
		})
	}
}

// TestImportThenQueryImages: `imgraph query images` on an imported tree
// lists what the legacy script published for it: per-platform tags from
// the BASEIMAGE keys plus one manifest list per image.
func TestImportThenQueryImages(t *testing.T) {
	ws := filepath.Join(t.TempDir(), "ws")
	src := filepath.Join("..", "..", "engine", "legacy", "testdata", "broken")
	if out, code := cliOut(t, "import", src, "--out", ws); code != 1 {
		t.Fatalf("import exit %d, want 1 (three images are broken):\n%s", code, out)
	}
	out, errOut, code := runCLI(t, "--workspace", ws, "--registry", "reg.example/e2e", "query", "images", "--output", "json")
	if code != 0 {
		t.Fatalf("query images exit %d:\n%s%s", code, out, errOut)
	}
	var res struct {
		Images []struct {
			ManifestList string `json:"manifest_list"`
			Platforms    []struct {
				Ref string `json:"ref"`
			} `json:"platforms"`
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var got []string
	for _, im := range res.Images {
		got = append(got, im.ManifestList)
		for _, p := range im.Platforms {
			got = append(got, p.Ref)
		}
	}
	sort.Strings(got)
	want := []string{
		"reg.example/e2e/parent:1.0", "reg.example/e2e/parent:1.0-linux-amd64", "reg.example/e2e/parent:1.0-linux-arm64",
		"reg.example/e2e/sibling:1.0", "reg.example/e2e/sibling:1.0-linux-amd64",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("query images:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	deps, code := cliOut(t, "--workspace", ws, "query", "deps", "//sibling")
	if code != 0 || !strings.Contains(deps, "//parent@linux/amd64") {
		t.Errorf("query deps //sibling (exit %d):\n%s", code, deps)
	}
}
