// Command imgraph builds the container images of a Starlark-declared
// workspace as one graph: load → graph → hash → plan → execute → publish.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

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
	err := app.Run(args)
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
