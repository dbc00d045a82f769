package testwebserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	fsys := fstest.MapFS{
		"index.html":      {Data: []byte("<h1>kitten</h1>")},
		"static/site.css": {Data: []byte("body{}")},
	}
	srv := httptest.NewServer(Handler(fsys))
	defer srv.Close()
	tests := []struct {
		path, body, ctype string
		code              int
	}{
		{"/", "<h1>kitten</h1>", "text/html; charset=utf-8", 200},
		{"/static/site.css", "body{}", "text/css; charset=utf-8", 200},
		{"/missing.png", "404 page not found\n", "text/plain; charset=utf-8", 404},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || string(b) != tt.body || resp.Header.Get("Content-Type") != tt.ctype {
			t.Errorf("GET %s = %d %q (%s), want %d %q (%s)", tt.path, resp.StatusCode, b, resp.Header.Get("Content-Type"), tt.code, tt.body, tt.ctype)
		}
	}
}
