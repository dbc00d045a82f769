package liveness

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is advanced by the test between requests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestHealthzFailsAfterDeadline(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	srv := httptest.NewServer(Handler(start, 10*time.Second, clock.now))
	defer srv.Close()
	steps := []struct {
		advance  time.Duration
		code     int
		contains string
	}{
		{0, 200, "ok"},
		{9 * time.Second, 200, "ok"},
		{time.Second, 200, "ok"}, // exactly at the deadline still passes
		{500 * time.Millisecond, 500, "error: 10.5s"},
		{time.Minute, 500, "error: 70.5s"},
	}
	for _, s := range steps {
		clock.add(s.advance)
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != s.code || !strings.Contains(string(body), s.contains) {
			t.Errorf("after %v: /healthz = %d %q, want %d containing %q", clock.now().Sub(start), resp.StatusCode, body, s.code, s.contains)
		}
	}
}

func TestRedirect(t *testing.T) {
	srv := httptest.NewServer(Handler(time.Now(), time.Hour, time.Now))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		query, location string
		code            int
	}{
		{"loc=%2Fhealthz", "/healthz", http.StatusFound},
		{"loc=http%3A%2F%2Fexample.com%2Fx", "http://example.com/x", http.StatusFound},
		{"", "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		resp, err := client.Get(srv.URL + "/redirect?" + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code || resp.Header.Get("Location") != tt.location {
			t.Errorf("/redirect?%s = %d Location %q, want %d %q", tt.query, resp.StatusCode, resp.Header.Get("Location"), tt.code, tt.location)
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    Config
		wantErr bool
	}{
		{nil, Config{Port: 8080, FailAfter: 10 * time.Second}, false},
		{[]string{"--port=9090", "--fail-after=1m"}, Config{Port: 9090, FailAfter: time.Minute}, false},
		{[]string{"--fail-after=-1s"}, Config{}, true},
		{[]string{"--port=0"}, Config{}, true},
	}
	for _, tt := range tests {
		got, err := ParseFlags(tt.args, io.Discard)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseFlags(%q) = %+v, %v; want %+v, err=%t", tt.args, got, err, tt.want, tt.wantErr)
		}
	}
}
