package main

import (
	"bytes"
	"errors"
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
				files = []string{root}
			}
			// Directories are walked for .star files, as gofmt does.
			var list []string
			for _, f := range files {
				if st, err := os.Stat(f); err == nil && st.IsDir() {
					found, err := starFiles(f)
					if err != nil {
						return failedErr(err)
					}
					list = append(list, found...)
					continue
				}
				list = append(list, f)
			}
			// Every file is tried: one syntax error does not leave the
			// files after it unformatted or unchecked.
			var unformatted, errs []string
			for _, f := range list {
				name := displayPath(root, f)
				changed, err := formatFile(f, name, !c.Bool("check"))
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				if changed {
					unformatted = append(unformatted, name)
				}
			}
			if len(errs) > 0 {
				if c.Bool("check") && len(unformatted) > 0 {
					errs = append(errs, fmt.Sprintf("not formatted (run imgraph fmt):\n  %s", strings.Join(unformatted, "\n  ")))
				}
				for _, f := range unformatted {
					if !c.Bool("check") {
						fmt.Fprintln(c.App.Writer, "formatted", f)
					}
				}
				return usageErr(errors.New(strings.Join(errs, "\n")))
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

// displayPath names f relative to the workspace root when it is inside it,
// else as given.
func displayPath(root, f string) string {
	abs, err := filepath.Abs(f)
	if err != nil {
		return f
	}
	if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return f
}

// formatFile formats one file (named name in messages); IMAGE.star and WORKSPACE.star are
// BUILD-like call lists, other .star files are libraries (.bzl style).
func formatFile(path, name string, write bool) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("fmt %s: %w", name, err)
	}
	out, err := starfmt.Source(name, data)
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
