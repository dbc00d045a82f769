// Command imgraph builds the container images of a Starlark-declared
// workspace as one graph: load → graph → hash → plan → execute → publish.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/load"
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
	app := &cli.App{
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
		OnUsageError:           flagError,
		UseShortOptionHandling: true,
		HideHelpCommand:        true,
		Suggest:                true,
	}
	// Without an Action urfave/cli answers an unknown command with its
	// help command ("No help topic for 'biuld'", exit 3).
	app.Action = func(c *cli.Context) error { return unknownCommand(c, app.Commands, true) }
	var wire func(cmds []*cli.Command)
	wire = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			// Otherwise a bad flag prints "Incorrect Usage" and the whole
			// help text, then the error again.
			cmd.OnUsageError = flagError
			if len(cmd.Subcommands) > 0 && cmd.Action == nil {
				subs := cmd.Subcommands
				cmd.Action = func(c *cli.Context) error { return unknownCommand(c, subs, false) }
			}
			wire(cmd.Subcommands)
		}
	}
	wire(app.Commands)
	return app
}

// unknownCommand is the action of the app and of commands with
// subcommands: help without arguments, else a usage error with the closest
// command name.
func unknownCommand(c *cli.Context, cmds []*cli.Command, root bool) error {
	if c.NArg() == 0 {
		if root {
			return cli.ShowAppHelp(c)
		}
		return cli.ShowSubcommandHelp(c)
	}
	name := c.Args().First()
	var names []string
	for _, cmd := range cmds {
		if !cmd.Hidden {
			names = append(names, cmd.Name)
		}
	}
	where := helpName(c)
	msg := fmt.Sprintf("unknown command %q", strings.TrimSpace(where[len("imgraph"):]+" "+name))
	if s := load.Closest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", strings.TrimSpace(where[len("imgraph"):]+" "+s))
	}
	return usageErr(fmt.Errorf("%s (%s --help lists the commands: %s)", msg, where, strings.Join(names, ", ")))
}

// helpName is the command path of c ("imgraph", "imgraph query deps").
func helpName(c *cli.Context) string {
	if c.Command != nil && c.Command.HelpName != "" && strings.HasPrefix(c.Command.HelpName, "imgraph") {
		return c.Command.HelpName
	}
	return "imgraph"
}

// Go's flag package phrases its parse errors with one dash.
var (
	reUndefinedFlag = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	reFlagValue     = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-+([^:]+): (.*)$`)
	reFlagNoArg     = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
)

// flagError turns a flag parse error into one line that names the flag as
// it is written, the closest known flag and where the flags are listed.
func flagError(c *cli.Context, err error, _ bool) error {
	where := helpName(c)
	dash := func(n string) string {
		if len(n) == 1 {
			return "-" + n
		}
		return "--" + n
	}
	msg := err.Error()
	switch {
	case reUndefinedFlag.MatchString(msg):
		name := reUndefinedFlag.FindStringSubmatch(msg)[1]
		var known []string
		for _, cmd := range c.Lineage() {
			if cmd.Command == nil {
				continue
			}
			for _, f := range cmd.Command.Flags {
				known = append(known, f.Names()...)
			}
		}
		for _, f := range c.App.Flags {
			known = append(known, f.Names()...)
		}
		msg = fmt.Sprintf("unknown flag %s", dash(name))
		if s := load.Closest(name, known); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", dash(s))
		}
	case reFlagValue.MatchString(msg):
		m := reFlagValue.FindStringSubmatch(msg)
		want := m[3]
		for _, cmd := range c.Lineage() {
			if cmd.Command == nil {
				continue
			}
			for _, f := range cmd.Command.Flags {
				if !slices.Contains(f.Names(), m[2]) {
					continue
				}
				switch f.(type) {
				case *cli.IntFlag:
					want = "want a whole number"
				case *cli.BoolFlag:
					want = "want true or false"
				}
			}
		}
		msg = fmt.Sprintf("%s %s: %s", dash(m[2]), m[1], want)
	case reFlagNoArg.MatchString(msg):
		msg = fmt.Sprintf("%s needs a value", dash(reFlagNoArg.FindStringSubmatch(msg)[1]))
	}
	return usageErr(fmt.Errorf("%s (%s --help lists the flags)", msg, where))
}

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int { return runWith(args, os.Stdout, os.Stderr) }

// runWith runs the CLI with the given output streams (tests run it in-process).
func runWith(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	// urfave/cli writes package-level state (cli.HelpFlag, its help
	// command) while it sets up and parses, so two runs in one process (the
	// in-process CLI tests) must not parse at once; actions run in parallel.
	cliMu.Lock()
	var once sync.Once
	unlock := func() { once.Do(cliMu.Unlock) }
	defer unlock()
	unlockBeforeActions(app.Commands, unlock)
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

var cliMu sync.Mutex

// unlockBeforeActions makes every command's action call unlock first.
func unlockBeforeActions(cmds []*cli.Command, unlock func()) {
	for _, c := range cmds {
		if act := c.Action; act != nil {
			c.Action = func(c *cli.Context) error {
				unlock()
				return act(c)
			}
		}
		unlockBeforeActions(c.Subcommands, unlock)
	}
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
	// `imgraph help [COMMAND...]` is `imgraph [COMMAND...] --help` (the
	// help command itself is hidden).
	if len(rest) > 0 && rest[0] == "help" {
		rest = append(slices.Clone(rest[1:]), "--help")
		if len(rest) == 1 {
			return append(append([]string{args[0]}, global...), rest...)
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
		return append(append([]string{args[0]}, global...), rest...)
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
		// `--keep-going false` would make "false" a target: a boolean
		// flag takes a following true/false as its value.
		if known && !val && !hasEq && i+1 < len(rest) && (rest[i+1] == "true" || rest[i+1] == "false") {
			i++
			*dst = append(*dst, tok+"="+rest[i])
			continue
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
