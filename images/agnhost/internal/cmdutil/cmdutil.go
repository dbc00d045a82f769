// Package cmdutil holds what agnhost's subcommands share: flag parsing
// that reports usage errors as a type, and an error carrying an exit code.
package cmdutil

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// UsageError is a bad command line; agnhost exits 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef makes a UsageError.
func Usagef(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// ExitError asks agnhost to exit with Code (netexec's /exit?code=N).
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit requested with code %d", e.Code) }

// NewFlagSet returns a flag set that reports errors instead of exiting;
// its usage text goes to out.
func NewFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// Parse parses args and rejects positional arguments. -h gives
// flag.ErrHelp unchanged; every other problem is a *UsageError.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
