// Package servehostname implements `agnhost serve-hostname`: a server that
// answers every HTTP request, TCP connection or UDP packet with the
// hostname, so tests can tell which backend served them.
package servehostname

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
	"sync"
	"time"

	"github.com/imgraph/imgraph/images/agnhost/internal/cmdutil"
)

// Config is the parsed command line.
type Config struct {
	HTTP, TCP, UDP bool
	Port           int
}

// ParseFlags parses serve-hostname's flags. HTTP cannot be combined with
// the raw protocols (they would share the TCP port); at least one protocol
// must be on.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := cmdutil.NewFlagSet("serve-hostname", stderr)
	fs.BoolVar(&c.HTTP, "http", true, "serve HTTP")
	fs.BoolVar(&c.TCP, "tcp", false, "serve raw TCP (requires --http=false)")
	fs.BoolVar(&c.UDP, "udp", false, "serve UDP (requires --http=false)")
	fs.IntVar(&c.Port, "port", 9376, "port to listen on")
	if err := cmdutil.Parse(fs, args); err != nil {
		return c, err
	}
	switch {
	case c.HTTP && (c.TCP || c.UDP):
		return c, cmdutil.Usagef("--http cannot be combined with --tcp or --udp (they share the port); add --http=false")
	case !c.HTTP && !c.TCP && !c.UDP:
		return c, cmdutil.Usagef("nothing to serve: enable --http, --tcp or --udp")
	case c.Port < 0 || c.Port > 65535:
		return c, cmdutil.Usagef("--port %d out of range", c.Port)
	}
	return c, nil
}

// Main runs the server until ctx is cancelled.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := ParseFlags(args, stderr)
	if err != nil {
		return err
	}
	hostname, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("get hostname: %w", err)
	}
	logger := log.New(stderr, "serve-hostname: ", log.LstdFlags)
	addr := ":" + strconv.Itoa(c.Port)
	var stream net.Listener
	var packets net.PacketConn
	if c.HTTP || c.TCP {
		if stream, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listen tcp %s: %w", addr, err)
		}
	}
	if c.UDP {
		if packets, err = net.ListenPacket("udp", addr); err != nil {
			if stream != nil {
				stream.Close()
			}
			return fmt.Errorf("listen udp %s: %w", addr, err)
		}
	}
	logger.Printf("serving %q on port %d (http=%t tcp=%t udp=%t)", hostname, c.Port, c.HTTP, c.TCP, c.UDP)
	return Serve(ctx, hostname, c.HTTP, stream, packets, logger)
}

// Serve answers on the given listeners until ctx is cancelled, then closes
// them. stream carries HTTP when http is true, else raw TCP; either
// listener may be nil.
func Serve(ctx context.Context, hostname string, http bool, stream net.Listener, packets net.PacketConn, logger *log.Logger) error {
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	if stream != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if http {
				errs <- serveHTTP(ctx, stream, hostname)
			} else {
				errs <- serveTCP(ctx, stream, hostname, logger)
			}
		}()
	}
	if packets != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- serveUDP(ctx, packets, hostname, logger)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// Handler answers every HTTP request with the hostname.
func Handler(hostname string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, hostname)
	})
}

func serveHTTP(ctx context.Context, ln net.Listener, hostname string) error {
	srv := &http.Server{Handler: Handler(hostname), ReadHeaderTimeout: 10 * time.Second}
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

// serveTCP writes the hostname to each connection and closes it.
func serveTCP(ctx context.Context, ln net.Listener, hostname string, logger *log.Logger) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept tcp: %w", err)
		}
		go func() {
			defer conn.Close()
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, hostname); err != nil {
				logger.Printf("write to %s: %v", conn.RemoteAddr(), err)
			}
		}()
	}
}

// serveUDP replies to every datagram with the hostname.
func serveUDP(ctx context.Context, conn net.PacketConn, hostname string, logger *log.Logger) error {
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	buf := make([]byte, 2048)
	for {
		_, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read udp: %w", err)
		}
		if _, err := conn.WriteTo([]byte(hostname), from); err != nil {
			logger.Printf("reply to %s: %v", from, err)
		}
	}
}
