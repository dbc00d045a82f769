package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/affected"
)

func presubmitCommand() *cli.Command {
	return &cli.Command{
		Name:  "presubmit",
		Usage: "affected images plus the version policy; exits 1 on any violation",
		Description: "Every affected image must have a new, higher version; an image whose parent changed must be bumped too;\n" +
			"a repository:version may not be reused for different content; an image may not be removed while others build on it.",
		Flags: []cli.Flag{
			baseFlag,
			&cli.StringFlag{Name: "head", Usage: "the revision to check (default: the working tree)"},
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
			rep, err := affected.Check(cmp.Base, cmp.Head, cmp.Result)
			if err != nil {
				return usageErr(err)
			}
			if out == "json" {
				if err := writeJSON(c.App.Writer, struct {
					OK bool `json:"ok"`
					*affected.Report
				}{len(rep.Violations) == 0, rep}); err != nil {
					return err
				}
			} else {
				printPresubmit(c.App.Writer, cmp, rep)
			}
			if n := len(rep.Violations); n > 0 {
				return failedErr(fmt.Errorf("presubmit failed: %d violation%s", n, plural(n)))
			}
			return nil
		},
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// printPresubmit writes the report for a CI log: the verdict first, then
// each violation as file:line: message with its fix, then the affected
// images with their reasons.
func printPresubmit(w io.Writer, cmp *affected.Comparison, rep *affected.Report) {
	fmt.Fprintf(w, "presubmit: %s vs %s\n", cmp.Base.Name, cmp.Head.Name)
	if n := len(rep.Violations); n > 0 {
		fmt.Fprintf(w, "FAIL: %d violation%s\n\n", n, plural(n))
		var toBump []string
		for _, v := range rep.Violations {
			fmt.Fprintf(w, "%s: %s [%s]\n    fix: %s\n", v.Pos(), v.Message, v.Kind, v.Fix)
			if v.Kind == affected.KindNotBumped || v.Kind == affected.KindParentChanged {
				toBump = append(toBump, string(v.Label))
			}
		}
		if len(toBump) > 1 {
			fmt.Fprintf(w, "\nbump them all at once: imgraph bump %s\n", strings.Join(toBump, " "))
		}
	} else if rep.Result != nil {
		fmt.Fprintf(w, "PASS: %d affected image%s, every version bumped\n", len(rep.Result.Affected), plural(len(rep.Result.Affected)))
	}
	if rep.Result == nil {
		return
	}
	if len(rep.Result.Affected) > 0 {
		fmt.Fprintf(w, "\naffected:\n")
	}
	for _, a := range rep.Result.Affected {
		ver := a.Version
		switch {
		case a.New:
			ver += " (new)"
		case a.BaseVersion != a.Version:
			ver = a.BaseVersion + " -> " + a.Version
		}
		fmt.Fprintf(w, "  %s %s: %s\n", a.Label, ver, strings.Join(a.Reasons, "; "))
	}
	for _, l := range rep.Result.Removed {
		fmt.Fprintf(w, "  %s: removed\n", l)
	}
}
