package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback port nothing listens on (racy, but only
// between this call and the daemon's bind).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDockerd runs a real dockerd with --tlsverify on a free loopback port,
// with its own data and exec roots, and stops it when the test ends. It
// returns the tcp:// host. The caller's ca must have issued serverCert.
func startDockerd(t *testing.T, caPEM, serverCert, serverKey []byte, insecureRegistry string) string {
	t.Helper()
	bin, err := osexec.LookPath("dockerd")
	if err != nil {
		t.Skip("dockerd is not installed (Debian docker.io)")
	}
	if os.Geteuid() != 0 {
		t.Skip("dockerd needs root")
	}
	// Short paths: containerd's unix sockets live under the exec root.
	dir, err := os.MkdirTemp("", "imgd")
	if err != nil {
		t.Fatal(err)
	}
	tls := certDir(t, caPEM, serverCert, serverKey)
	cfgFile := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfgFile, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	host := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	logPath := filepath.Join(dir, "dockerd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--config-file", cfgFile,
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"-H", host,
		"--tlsverify", "--tlscacert", filepath.Join(tls, "ca.pem"),
		"--tlscert", filepath.Join(tls, "cert.pem"), "--tlskey", filepath.Join(tls, "key.pem"),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false",
		// vfs: no mounts left behind if the test is killed.
		"--storage-driver", "vfs",
	}
	if insecureRegistry != "" {
		args = append(args, "--insecure-registry", insecureRegistry)
	}
	cmd := osexec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("dockerd state kept in %s", dir)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("dockerd exited during startup: %v\n%s", err, tailFile(logPath))
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return host
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("dockerd not listening on %s after 60s\n%s", host, tailFile(logPath))
	return ""
}

func tailFile(p string) string {
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// connect retries New until the daemon has finished starting (it listens
// before it answers).
func connect(t *testing.T, cfg Config) *Executor {
	t.Helper()
	var last error
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		e, err := New(ctx, cfg)
		cancel()
		if err == nil {
			t.Cleanup(func() { e.Close() })
			return e
		}
		last = err
		if errors.Is(err, ErrUnknownCA) || errors.Is(err, ErrBadClientCert) || errors.Is(err, ErrTLSRequired) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("connect %s: %v", cfg.Host, last)
	return nil
}
