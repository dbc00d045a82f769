package registry

import "testing"

func TestParseRefPlainHTTPForLoopback(t *testing.T) {
	tests := []struct {
		ref      string
		insecure bool
		scheme   string
	}{
		{"127.0.0.1:5000/a:1", false, "http"},
		{"localhost:5000/a:1", false, "http"},
		{"[::1]:5000/a:1", false, "http"},
		{"127.1.2.3:5000/a:1", false, "http"},
		{"registry.k8s.io/e2e-test-images/agnhost:2.63.0", false, "https"},
		{"gcr.io/k8s-staging/agnhost:2.63.0", true, "http"},
	}
	for _, tc := range tests {
		ref, err := Options{Insecure: tc.insecure}.ParseRef(tc.ref)
		if err != nil {
			t.Fatalf("%s: %v", tc.ref, err)
		}
		if got := ref.Context().Scheme(); got != tc.scheme {
			t.Errorf("%s (insecure=%v): scheme %s, want %s", tc.ref, tc.insecure, got, tc.scheme)
		}
	}
	if _, err := (Options{}).ParseRef("Bad//Ref"); err == nil {
		t.Error("a malformed reference parsed")
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:5000": true, "127.0.0.1:5000": true, "[::1]:5000": true, "::1": true,
		"registry.k8s.io": false, "10.0.0.1:5000": false, "localhost.example.com": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
