package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/affected"
	"github.com/imgraph/imgraph/engine/vcs"
)

var (
	// Required is checked in runComparison: urfave/cli's own check prints
	// the whole help text before its message.
	baseFlag       = &cli.StringFlag{Name: "base", Usage: "required: the revision to compare against (a commit, branch or tag, e.g. origin/master)"}
	textJSONOutput = &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json"}
)

func affectedCommand() *cli.Command {
	return &cli.Command{
		Name:  "affected",
		Usage: "images whose inputs differ between two revisions, plus every image that builds on them",
		Description: "Evaluates both revisions (read from git, the working tree is not touched) and compares the\n" +
			"input digest of every (image, platform). Prints one label per line; --output json adds the reasons.",
		Flags: []cli.Flag{
			baseFlag,
			&cli.StringFlag{Name: "head", Usage: "the revision to compare (default: the working tree, uncommitted changes included)"},
			textJSONOutput,
		},
		Action: func(c *cli.Context) error {
			out, err := textOrJSON(c)
			if err != nil {
				return err
			}
			cmp, err := runComparison(c)
			if err != nil {
				return err
			}
			if cmp.Result == nil {
				return usageErr(fmt.Errorf("%s does not build a graph: %w", cmp.Head.Name, cmp.Head.GraphErr))
			}
			return printAffected(c.App.Writer, cmp.Result, out)
		},
	}
}

func textOrJSON(c *cli.Context) (string, error) {
	switch out := c.String("output"); out {
	case "text", "json":
		return out, nil
	default:
		return "", usageErr(fmt.Errorf("--output %q: want text or json", out))
	}
}

// runComparison evaluates --base and --head; a bad revision, a directory
// outside git or a broken workspace exit with status 2.
func runComparison(c *cli.Context) (*affected.Comparison, error) {
	if c.String("base") == "" {
		return nil, usageErr(fmt.Errorf("%s needs --base REV, the revision to compare against (e.g. --base origin/main)", c.Command.Name))
	}
	root, err := workspaceRoot(c)
	if err != nil {
		return nil, usageErr(err)
	}
	cmp, err := affected.Run(c.Context, affected.Options{
		Dir:       root,
		Base:      c.String("base"),
		Head:      c.String("head"),
		Registry:  registryOverride(c),
		CacheFile: filepath.Join(root, ".imgraph", "cache", "stat-cache"), // shared with build (cmd/imgraph/hash.go)
	})
	var re *vcs.RevError
	switch {
	case err == nil:
		return cmp, nil
	case errors.As(err, &re), errors.Is(err, vcs.ErrNotRepo):
		return nil, usageErr(err)
	}
	return nil, classify(err)
}

func printAffected(w io.Writer, res *affected.Result, out string) error {
	if out == "json" {
		return writeJSON(w, res)
	}
	for _, a := range res.Affected {
		fmt.Fprintln(w, a.Label)
	}
	return nil
}
