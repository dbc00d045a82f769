// Package testwebserver implements `agnhost test-webserver`: a static file
// server, used by the kitten and nautilus images to serve their pages.
package testwebserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/imgraph/imgraph/images/agnhost/internal/cmdutil"
)

// Config is the parsed command line.
type Config struct {
	Port int
	Dir  string
}

// ParseFlags parses test-webserver's flags.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := cmdutil.NewFlagSet("test-webserver", stderr)
	fs.IntVar(&c.Port, "port", 80, "HTTP port")
	fs.StringVar(&c.Dir, "dir", ".", "directory to serve")
	if err := cmdutil.Parse(fs, args); err != nil {
		return c, err
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, cmdutil.Usagef("--port %d out of range", c.Port)
	}
	return c, nil
}

// Main serves the directory until ctx is cancelled.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := ParseFlags(args, stderr)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(c.Dir); err != nil || !fi.IsDir() {
		return cmdutil.Usagef("--dir %s is not a directory", c.Dir)
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(c.Port))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", c.Port, err)
	}
	log.New(stderr, "test-webserver: ", log.LstdFlags).Printf("serving %s on %d", c.Dir, c.Port)
	srv := &http.Server{Handler: Handler(os.DirFS(c.Dir)), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}
