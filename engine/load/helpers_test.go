package load_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/imgraph/imgraph/engine/load"
)

// defaultFiles is a minimal valid workspace with one image //a; test cases
// override or add files.
var defaultFiles = map[string]string{
	"WORKSPACE.star":      "workspace(platforms = [\"linux/amd64\", \"linux/arm64\"])\n",
	"images/a/Dockerfile": "FROM scratch\n",
	"images/a/IMAGE.star": "image(version = \"1\")\n",
}

// mapFS builds an in-memory workspace from defaultFiles plus files; an
// empty string deletes a default file.
func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for k, v := range defaultFiles {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	for k, v := range files {
		if v == "" && defaultFiles[k] != "" {
			delete(fsys, k)
			continue
		}
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return fsys
}

func loadMap(t testing.TB, files map[string]string) (*load.Workspace, error) {
	t.Helper()
	return load.Load(context.Background(), load.Options{Root: "/ws", FS: mapFS(files)})
}

func mustLoad(t testing.TB, files map[string]string) *load.Workspace {
	t.Helper()
	ws, err := loadMap(t, files)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return ws
}

// writeTree writes files below a new temporary directory and returns it.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range files {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// declErrors flattens a Load error into its declaration errors; it fails
// the test when err is not a declaration error.
func declErrors(t testing.TB, err error) load.ErrorList {
	t.Helper()
	var el load.ErrorList
	var e *load.Error
	switch {
	case errors.As(err, &el):
		return el
	case errors.As(err, &e):
		return load.ErrorList{e}
	}
	t.Fatalf("error %T %q is not a load.Error/ErrorList", err, err)
	return nil
}

// checkErr asserts that err is a declaration error whose first entry is at
// wantPos (file:line:col, or file:line: for any column) and whose message holds every word of want.
func checkErr(t testing.TB, err error, wantPos string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one at %s mentioning %q", wantPos, want)
	}
	list := declErrors(t, err)
	if len(list) == 0 {
		t.Fatalf("empty ErrorList")
	}
	first := list[0]
	// A wantPos ending in ':' fixes file and line only.
	if got := first.Pos.String(); got != wantPos && !(strings.HasSuffix(wantPos, ":") && strings.HasPrefix(got, wantPos)) {
		t.Errorf("position = %s, want %s (error: %v)", got, wantPos, err)
	}
	for _, w := range want {
		if !strings.Contains(first.Msg, w) {
			t.Errorf("message %q does not mention %q", first.Msg, w)
		}
	}
	for _, bad := range []string{"panic", "goroutine", ".go:"} {
		if strings.Contains(err.Error(), bad) {
			t.Errorf("message mentions %q: %v", bad, err)
		}
	}
}
