package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/hash"
)

// hashNodes computes the input digests of ids (and their dependencies)
// with the workspace's persistent stat cache under <root>/.imgraph/cache/.
func hashNodes(c *cli.Context, g *graph.Graph, ids []graph.NodeID) (map[graph.NodeID]hash.NodeDigest, error) {
	root := g.Workspace.Root
	cacheFile := filepath.Join(root, ".imgraph", "cache", "stat-cache")
	h, err := hash.New(root, os.DirFS(root), hash.Options{CacheFile: cacheFile})
	if err != nil {
		// A read-only checkout cannot keep a cache: hash without one.
		fmt.Fprintf(c.App.ErrWriter, "imgraph: warning: %v; hashing without a stat cache\n", err)
		if h, err = hash.New(root, os.DirFS(root), hash.Options{}); err != nil {
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
