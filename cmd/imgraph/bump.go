package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/bump"
	"github.com/imgraph/imgraph/engine/graph"
)

func bumpCommand() *cli.Command {
	return &cli.Command{
		Name:      "bump",
		Usage:     "raise the version in IMAGE.star of TARGETS, editing only the version literal",
		ArgsUsage: "TARGETS",
		Description: "Without --part: 1.37.0-2 -> 1.37.0-3 (revision), 2.63.0 -> 2.63.1, 1.9 -> 1.10, v4 -> v5.\n" +
			"--part resets the lower numbers and restarts a revision at 1 (1.37.0-2 --part minor -> 1.38.0-1).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "part", Usage: "major, minor or patch (default: from the version's shape)"},
			&cli.BoolFlag{Name: "with-dependents", Usage: "also bump every image that builds on TARGETS"},
		},
		Action: func(c *cli.Context) error {
			targets, partFlag, withDeps, err := bumpArgs(c)
			if err != nil {
				return usageErr(err)
			}
			part, err := bump.ParsePart(partFlag)
			if err != nil {
				return usageErr(err)
			}
			if len(targets) == 0 {
				return usageErr(fmt.Errorf("bump needs TARGETS (e.g. imgraph bump //agnhost)"))
			}
			g, err := loadGraph(c)
			if err != nil {
				return err
			}
			ids, err := selectTargets(g, targets)
			if err != nil {
				return err
			}
			if withDeps {
				ids = append(ids, g.ReverseDeps(ids)...)
			}
			root := g.Workspace.Root
			// Check every file first, so a refusal leaves nothing half-bumped.
			labels := graph.Labels(ids)
			for _, l := range labels {
				img, _ := g.Workspace.Image(l)
				if err := checkEditable(filepath.Join(root, img.File), img.File); err != nil {
					return usageErr(err)
				}
			}
			for _, l := range labels {
				img, _ := g.Workspace.Image(l)
				res, err := bump.File(filepath.Join(root, img.File), img.File, part)
				if err != nil {
					return failedErr(fmt.Errorf("bump %s: %w", l, err))
				}
				fmt.Fprintf(c.App.Writer, "%s: %s -> %s (%s)\n", l, res.Old, res.New, res.Site)
			}
			return nil
		},
	}
}

// checkEditable refuses files whose version is not a bumpable literal.
func checkEditable(path, name string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	site, err := bump.FindVersion(name, src)
	if err != nil {
		return err
	}
	if _, err := bump.Next(site.Value, bump.Auto); err != nil {
		return fmt.Errorf("%s: %w", site, err)
	}
	return nil
}

// bumpArgs also accepts the flags after TARGETS (imgraph bump //a
// --with-dependents), which urfave/cli leaves among the arguments.
func bumpArgs(c *cli.Context) (targets []string, part string, withDeps bool, err error) {
	part, withDeps = c.String("part"), c.Bool("with-dependents")
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--with-dependents" || a == "-with-dependents":
			withDeps = true
		case a == "--part" || a == "-part":
			if i+1 >= len(args) {
				return nil, "", false, fmt.Errorf("--part needs a value: major, minor or patch")
			}
			part = args[i+1]
			i++
		case strings.HasPrefix(a, "--part="):
			part = strings.TrimPrefix(a, "--part=")
		case strings.HasPrefix(a, "-"):
			return nil, "", false, fmt.Errorf("bump: unknown flag %s", a)
		default:
			targets = append(targets, a)
		}
	}
	return targets, part, withDeps, nil
}
