// Package netexec implements `agnhost netexec`: an HTTP (and optional UDP)
// server that network tests query for the serving pod's identity, the
// client's address, health and a controlled exit.
package netexec

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
	"strings"
	"sync"
	"time"

	"github.com/imgraph/imgraph/images/agnhost/internal/cmdutil"
)

// Config is the parsed command line.
type Config struct {
	HTTPPort int
	UDPPort  int // 0 disables the UDP server
}

// ParseFlags parses netexec's flags.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := cmdutil.NewFlagSet("netexec", stderr)
	fs.IntVar(&c.HTTPPort, "http-port", 8080, "HTTP port")
	fs.IntVar(&c.UDPPort, "udp-port", 8081, "UDP port (0 disables UDP)")
	if err := cmdutil.Parse(fs, args); err != nil {
		return c, err
	}
	for _, p := range []struct {
		name string
		v    int
		min  int
	}{{"--http-port", c.HTTPPort, 1}, {"--udp-port", c.UDPPort, 0}} {
		if p.v < p.min || p.v > 65535 {
			return c, cmdutil.Usagef("%s %d out of range", p.name, p.v)
		}
	}
	return c, nil
}

// Main runs netexec until ctx is cancelled or /exit is called.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := ParseFlags(args, stderr)
	if err != nil {
		return err
	}
	hostname, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("get hostname: %w", err)
	}
	logger := log.New(stderr, "netexec: ", log.LstdFlags)
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(c.HTTPPort))
	if err != nil {
		return fmt.Errorf("listen on http port %d: %w", c.HTTPPort, err)
	}
	var pc net.PacketConn
	if c.UDPPort != 0 {
		if pc, err = net.ListenPacket("udp", ":"+strconv.Itoa(c.UDPPort)); err != nil {
			ln.Close()
			return fmt.Errorf("listen on udp port %d: %w", c.UDPPort, err)
		}
	}
	logger.Printf("serving HTTP on %d, UDP on %d", c.HTTPPort, c.UDPPort)
	return Serve(ctx, NewServer(hostname, logger), ln, pc)
}

// Server holds netexec's state shared by the HTTP and UDP sides.
type Server struct {
	hostname string
	logger   *log.Logger
	exit     chan int // receives the code requested by /exit
	now      func() time.Time
}

// NewServer returns a server that reports hostname.
func NewServer(hostname string, logger *log.Logger) *Server {
	return &Server{hostname: hostname, logger: logger, exit: make(chan int, 1), now: time.Now}
}

// Handler serves the HTTP endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "NOW: %v", s.now())
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Query().Get("msg"))
	})
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, s.hostname)
	})
	mux.HandleFunc("/clientip", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/exit", s.handleExit)
	return mux
}

func (s *Server) handleExit(w http.ResponseWriter, r *http.Request) {
	code := 0
	if v := r.URL.Query().Get("code"); v != "" {
		c, err := strconv.Atoi(v)
		if err != nil || c < 0 || c > 255 {
			http.Error(w, fmt.Sprintf("bad code %q: want an integer 0-255", v), http.StatusBadRequest)
			return
		}
		code = c
	}
	select {
	case s.exit <- code:
		fmt.Fprintf(w, "exiting with code %d", code)
	default:
		http.Error(w, "already exiting", http.StatusConflict)
	}
}

// HandleUDP answers one UDP request: "hostname", "echo <msg>" or
// "clientip". ok is false for an unknown command.
func (s *Server) HandleUDP(req string, from net.Addr) (reply string, ok bool) {
	req = strings.TrimSpace(req)
	cmd, arg, _ := strings.Cut(req, " ")
	switch cmd {
	case "hostname":
		return s.hostname, true
	case "echo":
		return arg, true
	case "clientip":
		return from.String(), true
	}
	return fmt.Sprintf("unknown command %q (want hostname, echo <msg> or clientip)", cmd), false
}

// Serve runs the HTTP server on ln and, when pc is not nil, the UDP server,
// until ctx is cancelled (nil) or /exit is called (cmdutil.ExitError with
// the requested code, after in-flight requests finish).
func Serve(ctx context.Context, s *Server, ln net.Listener, pc net.PacketConn) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	httpErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- fmt.Errorf("serve http: %w", err)
		}
	}()
	stopUDP := make(chan struct{})
	if pc != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveUDP(pc, stopUDP)
		}()
	}
	var result error
	select {
	case <-ctx.Done():
	case code := <-s.exit:
		s.logger.Printf("exit requested with code %d", code)
		result = cmdutil.ExitError{Code: code}
	case err := <-httpErr:
		result = err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	close(stopUDP)
	if pc != nil {
		pc.Close()
	}
	wg.Wait()
	return result
}

func (s *Server) serveUDP(pc net.PacketConn, stop <-chan struct{}) {
	buf := make([]byte, 4096)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			select {
			case <-stop:
			default:
				s.logger.Printf("read udp: %v", err)
			}
			return
		}
		reply, _ := s.HandleUDP(string(buf[:n]), from)
		if _, err := pc.WriteTo([]byte(reply), from); err != nil {
			s.logger.Printf("reply to %s: %v", from, err)
		}
	}
}
