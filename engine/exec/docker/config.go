// Package docker builds nodes on a Docker Engine daemon (the Windows
// builders): it streams the build context over the Engine API, builds with
// the classic builder, pushes, and reads the pushed manifest digest back.
package docker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imgraph/imgraph/engine/load"
)

// Config says how to reach one Docker daemon.
type Config struct {
	Host string
	// CertDir holds ca.pem, cert.pem and key.pem (the docker CLI layout).
	CertDir string
	// Insecure allows a tcp:// host without client certificates (plain TCP).
	Insecure  bool
	OSVersion string
	// Isolation is "", "process" or "hyperv"; hyperv lets a host build an
	// image for a different Windows release.
	Isolation string
}

// EnvHostPrefix + UPPER(os_version) overrides a builder's host, as the
// legacy scripts' REMOTE_DOCKER_URL_LTSC2022 did.
const EnvHostPrefix = "REMOTE_DOCKER_URL_"

// EnvCertBase is the legacy scripts' base directory of .docker-<os_version>.
const EnvCertBase = "DOCKER_CERT_BASE_PATH"

// ConfigFor applies the environment overrides to a workspace declaration:
// REMOTE_DOCKER_URL_<UPPER(os_version)> overrides Host; the cert dir is
// cert_dir, else $DOCKER_CERT_BASE_PATH/.docker-<os_version>, else
// ~/.docker-<os_version>, with "~" expanded.
func ConfigFor(d load.DockerBuilder, getenv func(string) string) Config {
	cfg := Config{
		Host:      d.Host,
		CertDir:   d.CertDir,
		Insecure:  d.Insecure,
		OSVersion: d.OSVersion,
		Isolation: d.Isolation,
	}
	if h := getenv(EnvHostPrefix + strings.ToUpper(d.OSVersion)); h != "" {
		cfg.Host = h
	}
	if cfg.CertDir == "" {
		if base := getenv(EnvCertBase); base != "" {
			cfg.CertDir = filepath.Join(base, ".docker-"+d.OSVersion)
		} else {
			cfg.CertDir = "~/.docker-" + d.OSVersion
		}
	}
	cfg.CertDir = expandHome(cfg.CertDir, getenv)
	return cfg
}

func expandHome(p string, getenv func(string) string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home == "" {
		return p
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~"))
}

// Error kinds New reports; each comes with its own message. Test with errors.Is.
var (
	ErrNoHost        = errors.New("no Docker host configured")
	ErrTLSRequired   = errors.New("TLS client certificates required")
	ErrCertFiles     = errors.New("unusable TLS certificate files")
	ErrUnknownCA     = errors.New("daemon certificate not signed by the configured CA")
	ErrServerCert    = errors.New("daemon certificate invalid")
	ErrBadClientCert = errors.New("daemon rejected the client certificate")
	ErrExpiredCert   = errors.New("certificate expired")
	ErrUnreachable   = errors.New("Docker daemon unreachable")
	ErrNotDocker     = errors.New("not a Docker daemon")
	ErrPlatform      = errors.New("daemon cannot build this platform")
)

// who names the builder in messages: "docker_builder ltsc2022", or just
// "docker_builder" for one declared by platforms alone.
func (c Config) who() string {
	if c.OSVersion == "" {
		return "docker_builder"
	}
	return "docker_builder " + c.OSVersion
}

var certFiles = []string{"ca.pem", "cert.pem", "key.pem"}

// tlsConfig loads CertDir. It returns nil (plain TCP) only when no
// certificate file exists and Insecure is set; a partial set is an error
// either way, because it is almost certainly a mistake.
func (c Config) tlsConfig(now time.Time) (*tls.Config, error) {
	var missing []string
	for _, f := range certFiles {
		if _, err := os.Stat(filepath.Join(c.CertDir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	switch {
	case len(missing) == len(certFiles) && c.Insecure:
		return nil, nil
	case len(missing) == len(certFiles):
		where := "docker_builder(cert_dir = ...)"
		if c.OSVersion != "" {
			where += fmt.Sprintf(", or $%s/.docker-%s", EnvCertBase, c.OSVersion)
		}
		return nil, fmt.Errorf("%w: %s is a tcp:// host, and TLS with client certificates is required, but %s has none of ca.pem, cert.pem, key.pem; "+
			"put them there (%s), or set insecure = True on this docker_builder to allow an unauthenticated plain-TCP daemon",
			ErrTLSRequired, c.Host, c.CertDir, where)
	case len(missing) > 0:
		return nil, fmt.Errorf("%w: %s is missing %s (need ca.pem, cert.pem and key.pem for %s)",
			ErrTLSRequired, c.CertDir, strings.Join(missing, ", "), c.Host)
	}
	caPath := filepath.Join(c.CertDir, "ca.pem")
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrCertFiles, caPath, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrCertFiles, caPath)
	}
	certPath, keyPath := filepath.Join(c.CertDir, "cert.pem"), filepath.Join(c.CertDir, "key.pem")
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("%w: client certificate %s / key %s: %v", ErrCertFiles, certPath, keyPath, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: parse %s: %v", ErrCertFiles, certPath, err)
		}
	}
	// Checked here because daemons built with older Go answer an expired
	// client certificate with the same "bad certificate" alert as a wrong one.
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: client certificate %s expired on %s; issue a new one from the daemon's CA",
			ErrExpiredCert, certPath, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("%w: client certificate %s is not valid before %s (clock skew?)",
			ErrCertFiles, certPath, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS12,
	}, nil
}
