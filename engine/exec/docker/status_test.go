package docker

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/moby/api/types/system"

	"github.com/imgraph/imgraph/engine/exec"
	"github.com/imgraph/imgraph/engine/platform"
)

// TestBuildClosesStatusOnEarlyErrors: the progress display waits for every
// status channel to close, so Build closes it when it fails before talking
// to the daemon too.
func TestBuildClosesStatusOnEarlyErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		p    platform.Platform
		req  exec.Request
		want error
	}{
		{"platform the daemon cannot build", platform.Platform{OS: "windows", Arch: "amd64", OSVersion: "ltsc2022"}, exec.Request{}, ErrPlatform},
		{"missing context", platform.Platform{OS: "linux", Arch: "amd64"}, exec.Request{ContextDir: filepath.Join(dir, "nope"), Dockerfile: filepath.Join(dir, "Dockerfile")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &Executor{cfg: Config{Host: "tcp://nowhere:2376"}, info: system.Info{OSType: "linux", Architecture: "x86_64"}}
			ch := make(chan *bkclient.SolveStatus, 100)
			tc.req.Status, tc.req.Platform = ch, tc.p
			_, err := e.Build(context.Background(), tc.req)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			deadline := time.After(5 * time.Second)
			for {
				select {
				case _, open := <-ch:
					if !open {
						return
					}
				case <-deadline:
					t.Fatalf("status channel left open after %v", err)
				}
			}
		})
	}
}
