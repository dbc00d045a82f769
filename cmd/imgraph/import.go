package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/legacy"
)

// importCommand converts a legacy test/images tree. Exit status: 0 every
// image imported; 1 some image could not be (the others are still
// written); 2 bad command line (LEGACY_DIR missing or without images,
// --out not empty without --force, --out inside LEGACY_DIR).
func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "convert a legacy Kubernetes test/images tree (VERSION, BASEIMAGE, ALIAS, Dockerfile[_windows], Makefile) into a workspace",
		ArgsUsage: "LEGACY_DIR",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "workspace to write (WORKSPACE.star, images/<image>/...); with --in-place, default LEGACY_DIR"},
			&cli.BoolFlag{Name: "in-place", Usage: "write IMAGE.star beside the legacy files instead of copying them"},
			&cli.BoolFlag{Name: "force", Usage: "write into a non-empty --out, replacing existing IMAGE.star/WORKSPACE.star files"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "report format: text or json"},
		},
		Action: func(c *cli.Context) error {
			src, f, err := importArgs(c)
			if err != nil {
				return usageErr(err)
			}
			format, out, inPlace, force := f.output, f.out, f.inPlace, f.force
			if format != "text" && format != "json" {
				return usageErr(fmt.Errorf("--output %q: want text or json", format))
			}
			if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
				return usageErr(fmt.Errorf("LEGACY_DIR %s is not a directory", src))
			}
			switch {
			case out == "" && inPlace:
				out = src
			case out == "":
				return usageErr(fmt.Errorf("give --out DIR (a new workspace) or --in-place"))
			}
			if !inPlace {
				if err := checkOut(src, out, force); err != nil {
					return usageErr(err)
				}
			}
			rep, err := legacy.Import(c.Context, legacy.Options{Source: src, Out: out, InPlace: inPlace, Force: force})
			if errors.Is(err, legacy.ErrNoImages) {
				return usageErr(err)
			}
			if err != nil {
				return failedErr(fmt.Errorf("import %s: %w", src, err))
			}
			if format == "json" {
				if err := writeJSON(c.App.Writer, rep); err != nil {
					return err
				}
			} else {
				rep.WriteText(c.App.Writer)
			}
			if rep.Failed() {
				return failedErr(fmt.Errorf("import: %d problem(s); the images concerned were not written (see Errors)", len(rep.Errors)))
			}
			return nil
		},
	}
}

// checkOut refuses an --out that would mix with existing files or be
// scanned as part of the legacy tree.
func checkOut(src, out string, force bool) error {
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(absSrc, absOut); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
		return fmt.Errorf("--out %s is inside LEGACY_DIR %s; choose a directory outside it, or use --in-place", out, src)
	}
	entries, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("--out %s is not empty; choose a new directory or pass --force", out)
	}
	return nil
}

type importFlags struct {
	out, output    string
	inPlace, force bool
}

// importArgs returns LEGACY_DIR and the flags, which may also follow it
// (`imgraph import LEGACY_DIR --out DIR`, as documented): urfave/cli stops
// parsing flags at the first argument, so the rest is parsed here.
func importArgs(c *cli.Context) (string, importFlags, error) {
	f := importFlags{out: c.String("out"), output: c.String("output"), inPlace: c.Bool("in-place"), force: c.Bool("force")}
	args := c.Args().Slice()
	if len(args) == 0 {
		return "", f, fmt.Errorf("import takes one argument, the legacy test/images directory")
	}
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.out, "out", f.out, "")
	fs.StringVar(&f.output, "output", f.output, "")
	fs.StringVar(&f.output, "o", f.output, "")
	fs.BoolVar(&f.inPlace, "in-place", f.inPlace, "")
	fs.BoolVar(&f.force, "force", f.force, "")
	if err := fs.Parse(args[1:]); err != nil {
		return "", f, fmt.Errorf("import: %v", err)
	}
	if fs.NArg() > 0 {
		return "", f, fmt.Errorf("import takes one LEGACY_DIR; unexpected %s", strings.Join(fs.Args(), " "))
	}
	return args[0], f, nil
}
