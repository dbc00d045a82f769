package netexec

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgraph/imgraph/images/agnhost/internal/cmdutil"
)

func newTestServer() *Server {
	s := NewServer("pod-x", log.New(io.Discard, "", 0))
	s.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	return s
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(newTestServer().Handler())
	defer srv.Close()
	clientHost, _, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	tests := []struct {
		path     string
		code     int
		body     string
		contains bool
	}{
		{path: "/", code: 200, body: "NOW: 2026-01-02 03:04:05 +0000 UTC"},
		{path: "/echo?msg=hello%20world", code: 200, body: "hello world"},
		{path: "/echo", code: 200, body: ""},
		{path: "/hostname", code: 200, body: "pod-x"},
		{path: "/clientip", code: 200, body: clientHost + ":", contains: true},
		{path: "/healthz", code: 200, body: "ok"},
		{path: "/nope", code: 404, body: "404 page not found"},
		{path: "/exit?code=x", code: 400, body: "bad code", contains: true},
		{path: "/exit?code=256", code: 400, body: "bad code", contains: true},
	}
	for _, tt := range tests {
		code, body := get(t, srv.URL+tt.path)
		ok := body == tt.body
		if tt.contains {
			ok = strings.Contains(body, tt.body)
		}
		if code != tt.code || !ok {
			t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.code, tt.body)
		}
	}
}

func TestHandleUDP(t *testing.T) {
	s := newTestServer()
	from := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 4242}
	tests := []struct {
		req, reply string
		ok         bool
	}{
		{"hostname", "pod-x", true},
		{"hostname\n", "pod-x", true},
		{"echo ping pong", "ping pong", true},
		{"clientip", "10.0.0.9:4242", true},
		{"shell ls", `unknown command "shell" (want hostname, echo <msg> or clientip)`, false},
	}
	for _, tt := range tests {
		reply, ok := s.HandleUDP(tt.req, from)
		if reply != tt.reply || ok != tt.ok {
			t.Errorf("HandleUDP(%q) = %q, %t; want %q, %t", tt.req, reply, ok, tt.reply, tt.ok)
		}
	}
}

func TestServeExitCode(t *testing.T) {
	for _, code := range []int{0, 3} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- Serve(context.Background(), newTestServer(), ln, pc) }()

		uc, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		uc.SetDeadline(time.Now().Add(5 * time.Second))
		uc.Write([]byte("echo over-udp"))
		buf := make([]byte, 64)
		n, err := uc.Read(buf)
		uc.Close()
		if err != nil || string(buf[:n]) != "over-udp" {
			t.Errorf("udp echo = %q, %v", buf[:n], err)
		}

		status, body := get(t, "http://"+ln.Addr().String()+"/exit?code="+strconv.Itoa(code))
		if status != 200 || !strings.Contains(body, "exiting with code") {
			t.Errorf("/exit = %d %q", status, body)
		}
		select {
		case err := <-done:
			var ee cmdutil.ExitError
			if !errors.As(err, &ee) || ee.Code != code {
				t.Errorf("Serve after /exit?code=%d = %v, want ExitError{%d}", code, err, code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return after /exit")
		}
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, newTestServer(), ln, nil) }()
	if code, body := get(t, "http://"+ln.Addr().String()+"/hostname"); code != 200 || body != "pod-x" {
		t.Errorf("/hostname = %d %q", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    Config
		wantErr bool
	}{
		{nil, Config{HTTPPort: 8080, UDPPort: 8081}, false},
		{[]string{"--http-port=9000", "--udp-port=0"}, Config{HTTPPort: 9000}, false},
		{[]string{"--http-port=0"}, Config{}, true},
		{[]string{"--udp-port=-1"}, Config{}, true},
		{[]string{"--shell"}, Config{}, true},
	}
	for _, tt := range tests {
		got, err := ParseFlags(tt.args, io.Discard)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseFlags(%q) = %+v, %v; want %+v, err=%t", tt.args, got, err, tt.want, tt.wantErr)
		}
	}
}
