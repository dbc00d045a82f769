package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/load"
)

// findRoot walks up from dir to the directory holding WORKSPACE.star.
func findRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, load.WorkspaceFile)); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no %s found in %s or any parent directory; run imgraph inside a workspace or pass --workspace DIR", load.WorkspaceFile, dir)
		}
	}
}

// workspaceRoot honours --workspace.
func workspaceRoot(c *cli.Context) (string, error) {
	if w := c.String("workspace"); w != "" {
		abs, err := filepath.Abs(w)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(filepath.Join(abs, load.WorkspaceFile)); err != nil {
			return "", fmt.Errorf("--workspace %s: no %s there", w, load.WorkspaceFile)
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return findRoot(wd)
}

// registryOverride is --registry, else $REGISTRY.
func registryOverride(c *cli.Context) string {
	if r := c.String("registry"); r != "" {
		return r
	}
	return os.Getenv("REGISTRY")
}

// loadGraph loads the workspace and builds its graph; declaration errors
// become exit status 2.
func loadGraph(c *cli.Context) (*graph.Graph, error) {
	root, err := workspaceRoot(c)
	if err != nil {
		return nil, usageErr(err)
	}
	reg := registryOverride(c)
	if err := load.CheckRegistry(reg); reg != "" && err != nil {
		from := "--registry"
		if c.String("registry") == "" {
			from = "$REGISTRY"
		}
		return nil, usageErr(fmt.Errorf("%s: %w", from, err))
	}
	ws, err := load.Load(c.Context, load.Options{Root: root, Registry: reg})
	if err != nil {
		return nil, classify(err)
	}
	g, err := graph.Build(ws)
	if err != nil {
		return nil, classify(err)
	}
	return g, nil
}

// classify maps declaration errors to exit status 2, anything else to 1.
func classify(err error) error {
	var el load.ErrorList
	var e *load.Error
	if errors.As(err, &el) || errors.As(err, &e) {
		return usageErr(err)
	}
	return failedErr(err)
}
