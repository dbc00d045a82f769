package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/internal/atomicfile"
	"github.com/imgraph/imgraph/internal/starfmt"
)

func fmtCommand() *cli.Command {
	return &cli.Command{
		Name:      "fmt",
		Usage:     "format WORKSPACE.star, IMAGE.star and rules/*.star files (buildifier style)",
		ArgsUsage: "[FILES]",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "check", Usage: "list unformatted files and exit 1 instead of rewriting them"}},
		Action: func(c *cli.Context) error {
			root, err := workspaceRoot(c)
			if err != nil {
				return usageErr(err)
			}
			files := c.Args().Slice()
			if len(files) == 0 {
				files, err = starFiles(root)
				if err != nil {
					return failedErr(err)
				}
			}
			var unformatted []string
			for _, f := range files {
				changed, err := formatFile(f, !c.Bool("check"))
				if err != nil {
					return usageErr(err)
				}
				if changed {
					rel, _ := filepath.Rel(root, f)
					unformatted = append(unformatted, rel)
				}
			}
			if c.Bool("check") && len(unformatted) > 0 {
				return failedErr(fmt.Errorf("not formatted (run imgraph fmt):\n  %s", strings.Join(unformatted, "\n  ")))
			}
			for _, f := range unformatted {
				fmt.Fprintln(c.App.Writer, "formatted", f)
			}
			return nil
		},
	}
}

// starFiles lists every .star file in the workspace, skipping hidden dirs.
func starFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root {
			// Hidden directories, Go test fixtures and nested workspaces
			// are not this workspace's files.
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "WORKSPACE.star")); err == nil {
				return filepath.SkipDir
			}
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".star") {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// formatFile formats one file; IMAGE.star and WORKSPACE.star are
// BUILD-like call lists, other .star files are libraries (.bzl style).
func formatFile(path string, write bool) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	out, err := starfmt.Source(path, data)
	if err != nil {
		return false, err
	}
	if bytes.Equal(out, data) {
		return false, nil
	}
	if write {
		if err := atomicfile.WriteFile(path, out); err != nil {
			return false, err
		}
	}
	return true, nil
}
