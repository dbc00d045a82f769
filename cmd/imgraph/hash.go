package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/hash"
)

// hashNodes computes the input digests of ids (and their dependencies)
// with the workspace's persistent stat cache under <root>/.imgraph/cache/.
func hashNodes(c *cli.Context, g *graph.Graph, ids []graph.NodeID) (map[graph.NodeID]hash.NodeDigest, error) {
	root := g.Workspace.Root
	cacheFile := filepath.Join(root, ".imgraph", "cache", "stat-cache")
	opts := hash.Options{CacheFile: cacheFile, GoVersion: goVersionIfNeeded(g)}
	h, err := hash.New(root, os.DirFS(root), opts)
	if err != nil {
		// A read-only checkout cannot keep a cache: hash without one.
		fmt.Fprintf(c.App.ErrWriter, "imgraph: warning: %v; hashing without a stat cache\n", err)
		opts.CacheFile = ""
		if h, err = hash.New(root, os.DirFS(root), opts); err != nil {
			return nil, err
		}
	}
	digests, err := h.Nodes(c.Context, g, ids)
	if cerr := h.Close(); cerr != nil {
		// Not fatal: an unsaved cache only costs time on the next run.
		fmt.Fprintf(c.App.ErrWriter, "imgraph: warning: %v\n", cerr)
	}
	if err != nil {
		return nil, err
	}
	return digests, nil
}

// goVersionIfNeeded names the host Go toolchain when some node compiles a
// go_binary. It reads GOROOT/VERSION beside the go command rather than
// running it, which would cost a process start on every no-op build.
func goVersionIfNeeded(g *graph.Graph) string {
	needed := false
	for _, img := range g.Workspace.Images {
		for _, p := range img.Prebuild {
			needed = needed || p.Kind == "go_binary"
		}
	}
	if !needed {
		return ""
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "no go command"
	}
	if real, err := filepath.EvalSymlinks(goBin); err == nil {
		goBin = real
	}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(goBin)), "VERSION")); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSpace(line)
	}
	out, err := exec.Command(goBin, "env", "GOVERSION").Output()
	if err != nil {
		return "unknown go version"
	}
	return strings.TrimSpace(string(out))
}
