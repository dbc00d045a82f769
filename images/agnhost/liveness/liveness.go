// Package liveness implements `agnhost liveness`: an HTTP server whose
// /healthz succeeds for a while after start and then fails, for testing
// liveness probes and container restarts.
package liveness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/imgraph/imgraph/images/agnhost/internal/cmdutil"
)

// Config is the parsed command line.
type Config struct {
	Port      int
	FailAfter time.Duration
}

// ParseFlags parses liveness's flags.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := cmdutil.NewFlagSet("liveness", stderr)
	fs.IntVar(&c.Port, "port", 8080, "HTTP port")
	fs.DurationVar(&c.FailAfter, "fail-after", 10*time.Second, "how long /healthz succeeds after start")
	if err := cmdutil.Parse(fs, args); err != nil {
		return c, err
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, cmdutil.Usagef("--port %d out of range", c.Port)
	}
	if c.FailAfter < 0 {
		return c, cmdutil.Usagef("--fail-after %v is negative", c.FailAfter)
	}
	return c, nil
}

// Main serves until ctx is cancelled.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := ParseFlags(args, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(c.Port))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", c.Port, err)
	}
	log.New(stderr, "liveness: ", log.LstdFlags).Printf("serving on %d; /healthz fails after %v", c.Port, c.FailAfter)
	srv := &http.Server{Handler: Handler(time.Now(), c.FailAfter, time.Now), ReadHeaderTimeout: 10 * time.Second}
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

// Handler serves /healthz (200 until start+failAfter, then 500 with the
// elapsed time) and /redirect?loc=URL (302 to loc). now is the clock.
func Handler(start time.Time, failAfter time.Duration, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		elapsed := now().Sub(start)
		if elapsed > failAfter {
			http.Error(w, fmt.Sprintf("error: %.1fs since start", elapsed.Seconds()), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		loc, err := url.QueryUnescape(r.URL.Query().Get("loc"))
		if err != nil || loc == "" {
			http.Error(w, "missing or bad loc parameter", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, loc, http.StatusFound)
	})
	return mux
}
