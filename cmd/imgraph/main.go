// Command imgraph builds the container images of a Starlark-declared
// workspace as one graph: load → graph → hash → plan → execute → publish.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit statuses (SPEC.md): 1 a build or check failed, 2 the workspace or
// the command line is wrong.
const (
	exitFailed = 1
	exitUsage  = 2
)

// exitError carries an exit status to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error  { return &exitError{exitUsage, err} }
func failedErr(err error) error { return &exitError{exitFailed, err} }

func newApp() *cli.App {
	return &cli.App{
		Name:  "imgraph",
		Usage: "build container images declared in IMAGE.star files as one graph",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "workspace", Usage: "workspace root (default: walk up from the current directory to WORKSPACE.star)"},
			&cli.StringFlag{Name: "registry", Usage: "registry to publish to (overrides WORKSPACE.star and $REGISTRY)"},
		},
		Commands: []*cli.Command{
			buildCommand(),
			queryCommand(),
			fmtCommand(),
			affectedCommand(),
			presubmitCommand(),
			bumpCommand(),
			importCommand(),
		},
		ExitErrHandler:         func(*cli.Context, error) {},
		OnUsageError:           func(_ *cli.Context, err error, _ bool) error { return usageErr(err) },
		UseShortOptionHandling: true,
		HideHelpCommand:        true,
		Suggest:                true,
	}
}

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int { return runWith(args, os.Stdout, os.Stderr) }

// runWith runs the CLI with the given output streams (tests run it in-process).
func runWith(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	err := app.Run(reorderArgs(app, args))
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "imgraph: "+err.Error())
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// urfave/cli reports unknown commands and flags as plain errors.
	return exitUsage
}

// reorderArgs lets flags follow targets, as SPEC.md writes them
// (`imgraph build //agnhost --push --registry R`): urfave/cli stops at the
// first positional argument, so flags are moved in front of positionals,
// and global flags given after the command are moved before it.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	takesValue := func(flags []cli.Flag, name string) (known, value bool) {
		for _, f := range flags {
			for _, n := range f.Names() {
				if n == name {
					_, isBool := f.(*cli.BoolFlag)
					return true, !isBool
				}
			}
		}
		return false, false
	}
	flagName := func(tok string) (string, bool) {
		if !strings.HasPrefix(tok, "-") || tok == "-" || tok == "--" {
			return "", false
		}
		n := strings.TrimLeft(tok, "-")
		n, _, hasEq := strings.Cut(n, "=")
		return n, hasEq
	}
	var global, path, cmdFlags, positional []string
	rest := args[1:]
	// Global flags before the command.
	for len(rest) > 0 {
		n, hasEq := flagName(rest[0])
		if n == "" {
			break
		}
		global = append(global, rest[0])
		rest = rest[1:]
		if known, val := takesValue(app.Flags, n); known && val && !hasEq && len(rest) > 0 {
			global = append(global, rest[0])
			rest = rest[1:]
		}
	}
	// The command path (query has subcommands).
	cmds := app.Commands
	var cmd *cli.Command
	for len(rest) > 0 {
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(rest[0]) {
				next = c
			}
		}
		if next == nil {
			break
		}
		cmd = next
		path = append(path, rest[0])
		rest = rest[1:]
		cmds = cmd.Subcommands
	}
	if cmd == nil {
		return args
	}
	for i := 0; i < len(rest); i++ {
		tok := rest[i]
		if tok == "--" {
			positional = append(positional, rest[i:]...)
			break
		}
		n, hasEq := flagName(tok)
		if n == "" {
			positional = append(positional, tok)
			continue
		}
		dst := &cmdFlags
		known, val := takesValue(cmd.Flags, n)
		if !known {
			if gk, gv := takesValue(app.Flags, n); gk {
				dst, known, val = &global, gk, gv
			}
		}
		*dst = append(*dst, tok)
		if known && val && !hasEq && i+1 < len(rest) {
			i++
			*dst = append(*dst, rest[i])
		}
	}
	out := append([]string{args[0]}, global...)
	out = append(out, path...)
	out = append(out, cmdFlags...)
	return append(out, positional...)
}
