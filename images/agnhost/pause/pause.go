// Package pause implements `agnhost pause`: do nothing until told to stop.
package pause

import (
	"context"
	"fmt"
	"io"

	"github.com/imgraph/imgraph/images/agnhost/internal/cmdutil"
)

// Main blocks until ctx is cancelled (agnhost cancels it on SIGINT and
// SIGTERM) and then returns nil, so the process exits 0.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdutil.NewFlagSet("pause", stderr)
	if err := cmdutil.Parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "paused")
	<-ctx.Done()
	fmt.Fprintln(stdout, "signal received, exiting")
	return nil
}
