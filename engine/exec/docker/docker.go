package docker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/imgraph/imgraph/engine/exec"
	"github.com/imgraph/imgraph/engine/platform"
)

// Executor builds nodes on one Docker daemon.
type Executor struct {
	cfg  Config
	cli  *client.Client
	info system.Info
}

var _ exec.Executor = (*Executor)(nil)

// connectTimeout bounds New's probe when ctx has no deadline of its own.
const connectTimeout = 20 * time.Second

// New validates the TLS configuration (a tcp:// host needs client
// certificates unless Insecure), connects, and reads /info, failing fast
// with a distinct message per failure kind (see the Err* values).
func New(ctx context.Context, cfg Config) (*Executor, error) {
	if cfg.Host == "" {
		hint := "set host = ... in WORKSPACE.star"
		if cfg.OSVersion != "" {
			hint += " or " + EnvHostPrefix + strings.ToUpper(cfg.OSVersion)
		}
		return nil, fmt.Errorf("%s: %w: %s", cfg.who(), ErrNoHost, hint)
	}
	switch cfg.Isolation {
	case "", "process", "hyperv":
	default:
		return nil, fmt.Errorf("%s: isolation %q is not one of \"process\", \"hyperv\"", cfg.who(), cfg.Isolation)
	}
	u, err := client.ParseHostURL(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("%s: host %q: %w", cfg.who(), cfg.Host, err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 6, IdleConnTimeout: 30 * time.Second}}
	var tc *tls.Config
	scheme := "http"
	if u.Scheme == "tcp" {
		if tc, err = cfg.tlsConfig(time.Now()); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.who(), err)
		}
		hc.Transport.(*http.Transport).TLSClientConfig = tc
		if tc != nil {
			scheme = "https"
		}
	}
	// The scheme is explicit: the client would infer https from a
	// TLSClientConfig that net/http fills in by itself for HTTP/2.
	cli, err := client.New(client.WithHTTPClient(hc), client.WithHost(cfg.Host), client.WithScheme(scheme))
	if err != nil {
		return nil, fmt.Errorf("%s: client for %s: %w", cfg.who(), cfg.Host, err)
	}
	e := &Executor{cfg: cfg, cli: cli}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, connectTimeout)
		defer cancel()
	}
	if u.Scheme == "tcp" {
		// Our own /_ping first: the Engine client folds some transport
		// errors (connection refused) into one generic message.
		if err := probe(ctx, hc, cfg, scheme, u.Host); err != nil {
			cli.Close()
			return nil, err
		}
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, classify(cfg, err)
	}
	res, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		cli.Close()
		return nil, classify(cfg, err)
	}
	if res.Info.OSType == "" {
		cli.Close()
		return nil, fmt.Errorf("%s: %w: %s answered /info without an OSType", cfg.who(), ErrNotDocker, cfg.Host)
	}
	e.info = res.Info
	return e, nil
}

// Close releases the client's connections.
func (e *Executor) Close() error { return e.cli.Close() }

// Name describes the executor in messages.
func (e *Executor) Name() string {
	return fmt.Sprintf("docker %s (%s)", e.cfg.Host, e.info.OperatingSystem)
}

// Info is what the daemon reported when New connected.
func (e *Executor) Info() system.Info { return e.info }

func probe(ctx context.Context, hc *http.Client, cfg Config, scheme, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, (&url.URL{Scheme: scheme, Host: addr, Path: "/_ping"}).String(), nil)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.who(), err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return classify(cfg, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Api-Version") == "" {
		hint := ""
		if resp.StatusCode == http.StatusBadRequest && strings.Contains(string(body), "HTTPS") {
			hint = " (it expects TLS: put ca.pem, cert.pem and key.pem in " + cfg.CertDir + ")"
		}
		return fmt.Errorf("%s: %w: %s answered GET /_ping with %s and no Api-Version header%s: %.200q",
			cfg.who(), ErrNotDocker, cfg.Host, resp.Status, hint, body)
	}
	return nil
}

// classify turns a transport error into one of the Err* kinds with a
// message that says what to fix.
func classify(cfg Config, err error) error {
	where := fmt.Sprintf("%s: %s", cfg.who(), cfg.Host)
	var (
		unknownAuth x509.UnknownAuthorityError
		invalid     x509.CertificateInvalidError
		hostErr     x509.HostnameError
		recordErr   tls.RecordHeaderError
		opErr       *net.OpError
		dnsErr      *net.DNSError
	)
	switch {
	case errors.As(err, &unknownAuth):
		return fmt.Errorf("%s: %w: the daemon's TLS certificate is not signed by the CA in %s/ca.pem (wrong ca.pem for this builder?): %v",
			where, ErrUnknownCA, cfg.CertDir, err)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Errorf("%s: %w: the daemon's TLS server certificate has expired or is not yet valid: %v", where, ErrExpiredCert, err)
	case errors.As(err, &invalid), errors.As(err, &hostErr):
		return fmt.Errorf("%s: %w: %v", where, ErrServerCert, err)
	case errors.As(err, &recordErr):
		return fmt.Errorf("%s: %w: the port does not speak TLS (a plain-HTTP daemon needs insecure = True and no certificates in %s): %v",
			where, ErrNotDocker, cfg.CertDir, err)
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		alert := opErr.Err.Error()
		if strings.Contains(alert, "expired") {
			return fmt.Errorf("%s: %w: the daemon refused our client certificate %s/cert.pem as expired (%s)", where, ErrExpiredCert, cfg.CertDir, alert)
		}
		return fmt.Errorf("%s: %w: the daemon refused our client certificate %s/cert.pem (%s); it is not signed by the CA the daemon trusts (dockerd --tlscacert)",
			where, ErrBadClientCert, cfg.CertDir, alert)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%s: %w: cannot resolve host: %v", where, ErrUnreachable, err)
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.Is(err, context.DeadlineExceeded), client.IsErrConnectionFailed(err):
		return fmt.Errorf("%s: %w: cannot connect (is dockerd running and listening there, and is the port open?): %v", where, ErrUnreachable, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// A TLS 1.2 server closing the connection right after our
		// certificate is also how some daemons reject it.
		return fmt.Errorf("%s: %w: the daemon closed the connection during the TLS handshake; it probably does not accept our client certificate %s/cert.pem: %v",
			where, ErrBadClientCert, cfg.CertDir, err)
	}
	return fmt.Errorf("%s: %w: %v", where, ErrNotDocker, err)
}

var (
	kernelBuildRE = regexp.MustCompile(`^(\d+)\.(\d+)[ .](\d{4,})\b`)
	osBuildRE     = regexp.MustCompile(`OS Build (\d+)`)
)

// windowsBuild extracts 10.0.NNNNN from a Windows daemon's /info.
// KernelVersion looks like "10.0 17763 (17763.1.amd64fre.rs5_release...)".
func windowsBuild(info system.Info) string {
	if m := kernelBuildRE.FindStringSubmatch(info.KernelVersion); m != nil {
		return m[1] + "." + m[2] + "." + m[3]
	}
	if m := kernelBuildRE.FindStringSubmatch(info.OSVersion); m != nil {
		return m[1] + "." + m[2] + "." + m[3]
	}
	if m := osBuildRE.FindStringSubmatch(info.OperatingSystem); m != nil {
		return "10.0." + m[1]
	}
	return ""
}

var archNames = map[string]string{"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i386": "386", "i686": "386"}

func normArch(a string) string {
	if n, ok := archNames[a]; ok {
		return n
	}
	return strings.ToLower(a)
}

// CheckPlatform refuses a node the daemon cannot build: a Windows node
// needs a Windows daemon of the same release (10.0.NNNNN) unless the
// builder uses Hyper-V isolation; a Linux node needs a Linux daemon of
// the same architecture.
func (e *Executor) CheckPlatform(p platform.Platform) error {
	info := e.info
	if info.OSType != p.OS {
		return fmt.Errorf("%w: %s is a %s daemon (%s); it cannot build %s", ErrPlatform, e.cfg.Host, info.OSType, info.OperatingSystem, p)
	}
	if a := normArch(info.Architecture); a != "" && a != p.Arch {
		return fmt.Errorf("%w: %s runs on %s (%s); it cannot build %s", ErrPlatform, e.cfg.Host, a, info.Architecture, p)
	}
	if !p.IsWindows() {
		return nil
	}
	want, ok := platform.WindowsReleases[p.OSVersion]
	if !ok {
		return fmt.Errorf("%w: %s: unknown Windows release %q", ErrPlatform, p, p.OSVersion)
	}
	have := windowsBuild(info)
	if have == want {
		return nil
	}
	if e.cfg.Isolation == "hyperv" {
		return nil
	}
	if have == "" {
		return fmt.Errorf("%w: cannot tell the Windows build of %s from /info (KernelVersion %q, OperatingSystem %q); %s needs %s",
			ErrPlatform, e.cfg.Host, info.KernelVersion, info.OperatingSystem, p, want)
	}
	return fmt.Errorf("%w: %s runs Windows %s (%s), but %s needs %s (%s): with process isolation the host and image Windows builds must match; "+
		"use a %s host (REMOTE_DOCKER_URL_%s) or set isolation = \"hyperv\" on its docker_builder",
		ErrPlatform, e.cfg.Host, have, info.OperatingSystem, p, want, p.OSVersion, p.OSVersion, strings.ToUpper(p.OSVersion))
}
