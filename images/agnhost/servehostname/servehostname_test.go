package servehostname

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/imgraph/imgraph/images/agnhost/internal/cmdutil"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    Config
		wantErr bool
	}{
		{args: nil, want: Config{HTTP: true, Port: 9376}},
		{args: []string{"--port=8080"}, want: Config{HTTP: true, Port: 8080}},
		{args: []string{"--http=false", "--tcp", "--udp"}, want: Config{TCP: true, UDP: true, Port: 9376}},
		{args: []string{"--http=false", "--udp", "--port", "53"}, want: Config{UDP: true, Port: 53}},
		{args: []string{"--tcp"}, wantErr: true},
		{args: []string{"--http=false"}, wantErr: true},
		{args: []string{"--port=70000"}, wantErr: true},
		{args: []string{"--bogus"}, wantErr: true},
		{args: []string{"stray"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseFlags(tt.args, io.Discard)
		if tt.wantErr {
			var ue *cmdutil.UsageError
			if !errors.As(err, &ue) {
				t.Errorf("ParseFlags(%q) error = %v, want a usage error", tt.args, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseFlags(%q) = %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler("pod-a"))
	defer srv.Close()
	for _, p := range []string{"/", "/anything?x=1"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "pod-a" {
			t.Errorf("GET %s = %d %q, want 200 \"pod-a\"", p, resp.StatusCode, body)
		}
	}
}

func TestServeTCPAndUDP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "node-7", false, ln, pc, log.New(io.Discard, "", 0)) }()

	// TCP: the server writes the hostname and closes the connection.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	conn.Close()
	if err != nil || string(got) != "node-7" {
		t.Errorf("tcp read = %q, %v; want \"node-7\"", got, err)
	}

	// UDP: every datagram gets one reply.
	uc, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for i := 0; i < 2; i++ {
		uc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := uc.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := uc.Read(buf)
		if err != nil || string(buf[:n]) != "node-7" {
			t.Errorf("udp reply %d = %q, %v; want \"node-7\"", i, buf[:n], err)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop after cancel")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("TCP listener still accepting after shutdown")
	}
}

func TestServeHTTPShutsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "web-1", true, ln, nil, log.New(io.Discard, "", 0)) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "web-1" {
		t.Errorf("body = %q, want \"web-1\"", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop after cancel")
	}
}
