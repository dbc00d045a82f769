// Package regtest provides in-process registries and test images for the
// plan and publish tests.
package regtest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FastBackoff keeps retry tests quick.
var FastBackoff = remote.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 3}

// Registry starts an in-memory registry, optionally behind wrap, and
// returns its host:port (127.0.0.1, so plain HTTP).
func Registry(t testing.TB, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// Image makes a random single-layer image whose config carries the
// platform and labels. oci selects OCI media types instead of Docker's.
func Image(t testing.TB, p v1.Platform, labels map[string]string, oci bool) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if oci {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	cf.Config.Labels = labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Push writes img to ref and returns its manifest digest.
func Push(t testing.TB, ref string, img v1.Image, opts ...remote.Option) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// PushWithAttestation writes the index shape BuildKit produces for one
// platform with provenance: the image plus an unknown/unknown attestation
// manifest. It returns the index digest.
func PushWithAttestation(t testing.TB, ref string, img v1.Image, p v1.Platform) string {
	t.Helper()
	att, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": d.String()},
		}})
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push index %s: %v", ref, err)
	}
	id, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// Counter is an http.RoundTripper that counts requests by "METHOD kind",
// kind being manifests, blobs or ping (/v2/).
type Counter struct {
	Inner http.RoundTripper
	mu    sync.Mutex
	n     map[string]int
}

func (c *Counter) RoundTrip(r *http.Request) (*http.Response, error) {
	kind := "other"
	switch {
	case strings.Contains(r.URL.Path, "/manifests/"):
		kind = "manifests"
	case strings.Contains(r.URL.Path, "/blobs/"):
		kind = "blobs"
	case r.URL.Path == "/v2/" || r.URL.Path == "/v2":
		kind = "ping"
	}
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.Method+" "+kind]++
	c.mu.Unlock()
	inner := c.Inner
	if inner == nil {
		inner = http.DefaultTransport
	}
	return inner.RoundTrip(r)
}

// Counts returns a copy of the counts, without pings.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		if !strings.HasSuffix(k, " ping") {
			out[k] = v
		}
	}
	return out
}

// Reset clears the counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.n = nil
	c.mu.Unlock()
}

// FailFirst answers the first n requests with status (the rest go to the
// registry) and counts the failures it served.
type FailFirst struct {
	N, Status int
	mu        sync.Mutex
	served    int
}

func (f *FailFirst) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		fail := f.N < 0 || f.served < f.N
		if fail {
			f.served++
		}
		f.mu.Unlock()
		if fail {
			http.Error(w, "registry is having a bad day", f.Status)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Served reports how many failures were served.
func (f *FailFirst) Served() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served
}

// BasicAuth requires user:password on every request.
func BasicAuth(user, password string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="imgraph-test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}
