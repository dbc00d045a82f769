// Package registry holds the registry access settings shared by plan and
// publish: reference parsing (plain HTTP for loopback registries),
// go-containerregistry remote options with bounded retries, and error
// messages that say which registry failed and what to do about it.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// DefaultBackoff retries a failing request three more times, after 0.5s,
// 1.5s and 4.5s: enough for a registry restart, short enough that an
// outage is reported within seconds.
var DefaultBackoff = remote.Backoff{Duration: 500 * time.Millisecond, Factor: 3, Jitter: 0.1, Steps: 4}

// RetryStatusCodes are the responses worth retrying: timeouts, rate limits
// and server errors.
var RetryStatusCodes = []int{
	http.StatusRequestTimeout,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// Options say how to reach registries.
type Options struct {
	// Keychain supplies credentials; nil means authn.DefaultKeychain (the
	// docker config and its credential helpers).
	Keychain authn.Keychain
	// Transport replaces remote.DefaultTransport (tests count requests with it).
	Transport http.RoundTripper
	// Insecure uses plain HTTP for every registry. Loopback registries
	// (localhost, 127.0.0.0/8, ::1) always use plain HTTP.
	Insecure bool
	// Backoff overrides DefaultBackoff (tests use a fast one).
	Backoff *remote.Backoff
}

// ParseRef parses a tag or digest reference, marking loopback and
// explicitly insecure registries as plain HTTP.
func (o Options) ParseRef(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("parse image reference %q: %w", s, err)
	}
	if o.Insecure || IsLoopback(ref.Context().RegistryStr()) {
		ref, err = name.ParseReference(s, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("parse image reference %q: %w", s, err)
		}
	}
	return ref, nil
}

// IsLoopback reports whether a registry host[:port] is on this machine.
func IsLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Remote returns the go-containerregistry options for one operation.
func (o Options) Remote(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	backoff := DefaultBackoff
	if o.Backoff != nil {
		backoff = *o.Backoff
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithRetryBackoff(backoff),
		remote.WithRetryStatusCodes(RetryStatusCodes...),
		remote.WithRetryPredicate(retryable),
		remote.WithUserAgent("imgraph"),
	}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

// Session returns options for many operations in one run: they share a
// remote.Puller, so each repository is pinged and authenticated once
// rather than once per request.
func (o Options) Session(ctx context.Context) ([]remote.Option, error) {
	opts := o.Remote(ctx)
	p, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, fmt.Errorf("set up registry client: %w", err)
	}
	return append(opts, remote.Reuse(p)), nil
}

// retryable extends go-containerregistry's default predicate with refused
// connections, so a registry that is restarting gets the same grace as one
// answering 503.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, syscall.EPIPE, syscall.ECONNRESET, syscall.ECONNREFUSED, net.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// IsNotFound reports whether err means the reference does not exist.
func IsNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return true
		}
	}
	return false
}

// Explain wraps a registry error with the registry's name and the likely
// remedy. The messages never contain credentials: go-containerregistry
// errors carry the URL and the registry's answer, not request headers.
func Explain(op string, ref name.Reference, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", op, ref, err)
	}
	registry := ref.Context().RegistryStr()
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%s %s: registry %s refused access (HTTP %d); log in with `docker login %s` (credentials are read from the docker config and its credential helpers): %w",
				op, ref, registry, te.StatusCode, registry, err)
		case te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests || te.StatusCode == http.StatusRequestTimeout:
			return fmt.Errorf("%s %s: registry %s kept failing (HTTP %d) after retries; check the registry's health and run the command again: %w",
				op, ref, registry, te.StatusCode, err)
		}
		return fmt.Errorf("%s %s: %w", op, ref, err)
	}
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &de) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s %s: registry %s is unreachable after retries; check that it is running and that --registry/REGISTRY name it (for the local stack: hack/local-stack.sh up): %w",
			op, ref, registry, err)
	}
	return fmt.Errorf("%s %s: %w", op, ref, err)
}

// IsAttestation reports whether an index entry is an attestation manifest
// (BuildKit marks them unknown/unknown and with a reference-type annotation).
func IsAttestation(d v1.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}
