package load_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgraph/imgraph/engine/load"
)

// TestSymlinkEscapes uses a real directory: context, dockerfile and glob
// must not reach outside the workspace through a symlink.
func TestSymlinkEscapes(t *testing.T) {
	const img = "images/a/IMAGE.star"
	tests := []struct {
		name    string
		image   string
		links   map[string]string // link path (in workspace) -> target
		wantPos string            // "" means the load must succeed
		want    []string
	}{
		{
			name:    "context is an absolute symlink",
			image:   "image(\n    version = \"1\",\n    context = \"ctx\",\n)\n",
			links:   map[string]string{"images/a/ctx": "/"},
			wantPos: img + ":3:5",
			want:    []string{`argument "context"`, "images/a/ctx is a symlink to /, outside the workspace"},
		},
		{
			name:    "context is a relative symlink out of the workspace",
			image:   "image(version = \"1\", context = \"ctx\")\n",
			links:   map[string]string{"images/a/ctx": "../../../outside"},
			wantPos: img + ":1:22",
			want:    []string{`argument "context"`, "outside the workspace"},
		},
		{
			name:    "dockerfile is a symlink out of the workspace",
			image:   "image(\n    version = \"1\",\n    dockerfile = \"Dockerfile.link\",\n)\n",
			links:   map[string]string{"images/a/Dockerfile.link": "../../../outside/Dockerfile"},
			wantPos: img + ":3:5",
			want:    []string{`argument "dockerfile"`, "outside the workspace"},
		},
		{
			name:    "dockerfile below a directory symlink out of the workspace",
			image:   "image(version = \"1\", dockerfile = \"sub/Dockerfile\")\n",
			links:   map[string]string{"images/a/sub": "../../../outside"},
			wantPos: img + ":1:22",
			want:    []string{`argument "dockerfile"`, "images/a/sub is a symlink to ../../../outside, outside the workspace"},
		},
		{
			name:    "glob matches a symlink out of the workspace",
			image:   "FILES = glob([\"data/**\"])\nimage(version = \"1\")\n",
			links:   map[string]string{"images/a/data/leak": "../../../../outside/secret"},
			wantPos: img + ":1:13",
			want:    []string{"glob()", "outside the workspace"},
		},
		{
			name:  "symlinks inside the workspace are fine",
			image: "FILES = glob([\"**\"])\nimage(version = \"1\", context = \"ctx\", dockerfile = \"ctx/Dockerfile\", build_args = {\"F\": \",\".join(FILES)})\n",
			links: map[string]string{"images/a/ctx": "../shared", "images/a/data/f": "../../shared/Dockerfile"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := writeTree(t, map[string]string{
				"ws/WORKSPACE.star":           defaultFiles["WORKSPACE.star"],
				"ws/images/a/Dockerfile":      "FROM scratch\n",
				"ws/images/a/IMAGE.star":      tt.image,
				"ws/images/shared/Dockerfile": "FROM scratch\n",
				"outside/Dockerfile":          "FROM scratch\n",
				"outside/secret":              "secret\n",
			})
			root := filepath.Join(top, "ws")
			for link, target := range tt.links {
				p := filepath.Join(root, filepath.FromSlash(link))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.FromSlash(target), p); err != nil {
					t.Fatal(err)
				}
			}
			ws, err := load.Load(context.Background(), load.Options{Root: root})
			if tt.wantPos == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				a, _ := ws.Image("//a")
				// Symlinks are listed as entries, not followed (as a Docker
				// build context sends them), so the ctx link is one entry.
				if got, want := a.BuildArgs["F"], "Dockerfile,IMAGE.star,ctx,data/f"; got != want {
					t.Errorf("glob through links = %q, want %q", got, want)
				}
				return
			}
			checkErr(t, err, tt.wantPos, tt.want...)
		})
	}
}
