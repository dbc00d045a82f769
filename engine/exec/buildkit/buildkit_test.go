package buildkit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"

	"github.com/imgraph/imgraph/engine/exec"
	"github.com/imgraph/imgraph/engine/platform"
)

// TestBuildClosesStatusOnEarlyErrors: the progress display waits for every
// status channel to close, so Build closes it also when it fails before
// the solve starts (no daemon is needed to get there).
func TestBuildClosesStatusOnEarlyErrors(t *testing.T) {
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	tests := []struct {
		name string
		req  exec.Request
		want string // part of the error: which early path was taken
	}{
		{"missing context", exec.Request{ContextDir: filepath.Join(dir, "nope"), Dockerfile: df}, "open context"},
		{"bad prebuild output name", exec.Request{ContextDir: dir, Dockerfile: df, Extra: map[string]string{"a/b": df}}, "prebuild output"},
		{"dockerfile directory missing", exec.Request{ContextDir: dir, Dockerfile: filepath.Join(dir, "nope", "Dockerfile")}, "open dockerfile dir"},
		{"layout is a file", exec.Request{ContextDir: dir, Dockerfile: df, Layout: filepath.Join(notDir, "oci")}, "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan *client.SolveStatus)
			tc.req.Status = ch
			tc.req.Platform = platform.Platform{OS: "linux", Arch: "amd64"}
			_, err := (&Executor{addr: "unix:///nowhere"}).Build(context.Background(), tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one about %q", err, tc.want)
			}
			select {
			case _, open := <-ch:
				if open {
					t.Error("status sent, want the channel closed")
				}
			case <-time.After(5 * time.Second):
				t.Errorf("status channel left open after %v", err)
			}
		})
	}
}
