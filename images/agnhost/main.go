// Command agnhost is a multi-call test binary in the style of the
// Kubernetes agnhost image: `agnhost <subcommand> [flags]`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/imgraph/imgraph/images/agnhost/internal/cmdutil"
	"github.com/imgraph/imgraph/images/agnhost/liveness"
	"github.com/imgraph/imgraph/images/agnhost/netexec"
	"github.com/imgraph/imgraph/images/agnhost/pause"
	"github.com/imgraph/imgraph/images/agnhost/servehostname"
	"github.com/imgraph/imgraph/images/agnhost/testwebserver"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

type subcommand struct {
	help string
	// run parses its own flags; logs and flag help go to stderr.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var subcommands = map[string]subcommand{
	"liveness":       {"HTTP server whose /healthz starts failing after a while", liveness.Main},
	"netexec":        {"HTTP/UDP server with /echo, /hostname, /clientip, /healthz, /exit", netexec.Main},
	"pause":          {"block until SIGINT or SIGTERM, then exit 0", pause.Main},
	"serve-hostname": {"answer every HTTP request, TCP connection or UDP packet with the hostname", servehostname.Main},
	"test-webserver": {"serve the files of a directory over HTTP", testwebserver.Main},
}

func main() {
	// SIGINT/SIGTERM cancel the context: servers shut down and pause returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and maps its result to an exit code:
// 0 success, 2 usage error, a subcommand's requested code, else 1.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, Version)
		return 0
	}
	cmd, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "agnhost: unknown subcommand %q\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	var exit cmdutil.ExitError
	var usageErr *cmdutil.UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		return exit.Code
	case errors.As(err, &usageErr):
		fmt.Fprintf(stderr, "agnhost %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "agnhost %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: agnhost <subcommand> [flags]\n\nsubcommands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-15s %s\n", n, subcommands[n].help)
	}
	fmt.Fprintln(w, "\nrun `agnhost <subcommand> -h` for its flags")
}
