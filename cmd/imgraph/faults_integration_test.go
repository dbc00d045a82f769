package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	bkclient "github.com/moby/buildkit/client"
)

// faultSummary is the part of `build --output json` these tests read.
type faultSummary struct {
	Nodes []struct {
		ID      string `json:"id"`
		State   string `json:"state"`
		Reason  string `json:"reason"`
		Error   string `json:"error"`
		Digest  string `json:"digest"`
		Builder string `json:"builder"`
	} `json:"nodes"`
	Lists []struct {
		Label   string   `json:"label"`
		Ref     string   `json:"ref"`
		Digest  string   `json:"digest"`
		Missing []string `json:"missing"`
		Error   string   `json:"error"`
	} `json:"manifest_lists"`
	Built    int `json:"built"`
	UpToDate int `json:"up_to_date"`
	Failed   int `json:"failed"`
}

// parseFaultSummary reads the JSON summary; the text after it (if any) is
// not part of stdout with --output json.
func parseFaultSummary(t *testing.T, out string) faultSummary {
	t.Helper()
	var s faultSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	return s
}

func (s faultSummary) node(t *testing.T, id string) (state, reason, errMsg, builder string) {
	t.Helper()
	for _, n := range s.Nodes {
		if n.ID == id {
			return n.State, n.Reason, n.Error, n.Builder
		}
	}
	t.Fatalf("no node %s in the summary", id)
	return
}

func (s faultSummary) list(label string) (digest, errMsg string, missing []string, ok bool) {
	for _, l := range s.Lists {
		if l.Label == label {
			return l.Digest, l.Error, l.Missing, true
		}
	}
	return "", "", nil, false
}

// headDigest is the digest of ref in the registry, or "" when absent.
func headDigest(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// noTrace fails when a message looks like a Go panic or stack dump.
func noTrace(t *testing.T, what, s string) {
	t.Helper()
	for _, bad := range []string{"goroutine ", "panic:", "runtime/debug"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s contains %q:\n%s", what, bad, s)
		}
	}
}

// ---------------------------------------------------------------- private buildkitd

const stackBuildkitd = "/var/tmp/imgraph-stack/bin/buildkitd"

type privateBuildkitd struct {
	t    *testing.T
	root string
	addr string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startBuildkitd runs a buildkitd of this test's own, so killing it cannot
// disturb other packages' tests on the shared stack daemon.
func startBuildkitd(t *testing.T, root string) *privateBuildkitd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a private buildkitd needs root")
	}
	if _, err := os.Stat(stackBuildkitd); err != nil {
		t.Skipf("no buildkitd binary at %s (hack/local-stack.sh up builds it)", stackBuildkitd)
	}
	b := &privateBuildkitd{t: t, root: root, addr: "unix://" + filepath.Join(root, "bk.sock"), log: filepath.Join(root, "buildkitd.log")}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *privateBuildkitd) start() {
	t := b.t
	t.Helper()
	logf, err := os.OpenFile(b.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(stackBuildkitd, "--root", filepath.Join(b.root, "state"), "--addr", b.addr,
		"--oci-worker=true", "--containerd-worker=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start buildkitd: %v", err)
	}
	b.cmd, b.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(b.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := bkclient.New(ctx, b.addr)
		if err == nil {
			_, err = c.ListWorkers(ctx)
			c.Close()
		}
		cancel()
		if err == nil {
			return
		}
		select {
		case <-b.done:
			logs, _ := os.ReadFile(b.log)
			t.Fatalf("buildkitd exited during startup:\n%s", logs)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("buildkitd at %s not ready after 30s", b.addr)
}

func (b *privateBuildkitd) kill() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
	b.cmd = nil
}

func (b *privateBuildkitd) stop() {
	if b.cmd != nil {
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(15 * time.Second):
			b.kill()
		}
		b.cmd = nil
	}
	// A SIGKILLed daemon leaves its containers' rootfs mounted; the
	// restarted one does not clean them up, and TempDir cannot remove them.
	info, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], b.root+"/") {
			syscall.Unmount(f[4], syscall.MNT_DETACH)
		}
	}
}

// processWith returns the pid of a process whose command line contains
// token, or 0.
func processWith(token string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == os.Getpid() {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cl, []byte(token)) {
			return pid
		}
	}
	return 0
}

func TestBuildBuildkitdKilledMidBuild(t *testing.T) {
	reg := stackEnv(t)
	bk := startBuildkitd(t, t.TempDir())
	token := "imgraph-fault-" + filepath.Base(reg)
	ws := slowChainWorkspace(t, token, 30)
	args := []string{"--workspace", ws, "--registry", reg, "build", "--push", "--progress", "quiet", "--output", "json", "--buildkit-addr", bk.addr}

	type result struct {
		out, errOut string
		code        int
	}
	res := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := runWith(append([]string{"imgraph"}, args...), &out, &errb)
		res <- result{out.String(), errb.String(), code}
	}()
	// Kill the daemon once A is pushed and B's RUN step is running.
	deadline := time.Now().Add(90 * time.Second)
	var sleeper int
	for sleeper == 0 || headDigest(t, reg+"/a:1.0-linux-amd64") == "" {
		if time.Now().After(deadline) {
			t.Fatal("B's RUN step never started or A was never pushed")
		}
		select {
		case r := <-res:
			t.Fatalf("build ended before the daemon was killed: exit %d\n%s\n%s", r.code, r.out, r.errOut)
		case <-time.After(200 * time.Millisecond):
		}
		sleeper = processWith(token)
	}
	bk.kill()
	// The RUN container outlives a SIGKILLed daemon; end it (we started it).
	if pid := processWith(token); pid != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	var r result
	select {
	case r = <-res:
	case <-time.After(60 * time.Second):
		t.Fatal("build did not end within 60s of buildkitd dying")
	}
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.out, r.errOut)
	}
	noTrace(t, "stderr", r.errOut)
	s := parseFaultSummary(t, r.out)
	if st, _, _, _ := s.node(t, "//a@linux/amd64"); st != "built" {
		t.Errorf("A is %q, want built", st)
	}
	st, _, msg, _ := s.node(t, "//b@linux/amd64")
	t.Logf("B: %s", msg)
	if st != "failed" || !strings.Contains(msg, "lost the connection to buildkitd at "+bk.addr) {
		t.Errorf("B is %q with error %q; want failed, saying the daemon %s went away", st, msg, bk.addr)
	}
	noTrace(t, "B's error", msg)
	if st, _, _, _ := s.node(t, "//c@linux/amd64"); st != "skipped" {
		t.Errorf("C is %q, want skipped", st)
	}
	for _, img := range []string{"b", "c"} {
		if d := headDigest(t, reg+"/"+img+":1.0"); d != "" {
			t.Errorf("manifest list %s:1.0 was written (%s) although its image failed", img, d)
		}
	}
	aList := headDigest(t, reg+"/a:1.0")
	if d, _, _, _ := s.list("//a"); aList == "" || d != aList {
		t.Errorf("A's list: registry has %q, report says %q", aList, d)
	}

	// Daemon back on the same state, B made quick: A is up to date, B and C build.
	bk.start()
	writeFiles(t, ws, map[string]string{"images/b/Dockerfile": slowDockerfile(token, 1)})
	out, errOut, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errOut)
	}
	s = parseFaultSummary(t, out)
	for id, want := range map[string]string{"//a@linux/amd64": "up to date", "//b@linux/amd64": "built", "//c@linux/amd64": "built"} {
		if st, _, _, _ := s.node(t, id); st != want {
			t.Errorf("rerun: %s is %q, want %q", id, st, want)
		}
	}
	for _, img := range []string{"b", "c"} {
		if headDigest(t, reg+"/"+img+":1.0") == "" {
			t.Errorf("rerun: no manifest list %s:1.0", img)
		}
	}
}

// ---------------------------------------------------------------- registry proxies

// regProxy forwards to the real registry unless fail says otherwise. It
// counts the requests it refused.
type regProxy struct {
	srv     *httptest.Server
	host    string
	refused atomic.Int64
	mu      sync.Mutex
	fail    func(r *http.Request) int // status to answer instead of forwarding; 0 = forward
	auth    string                    // required "user:pass", "" = none
}

func newRegProxy(t *testing.T) *regProxy {
	t.Helper()
	target, _ := url.Parse("http://" + os.Getenv("IMGRAPH_TEST_REGISTRY"))
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // clients hanging up after a failure are expected
	p := &regProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		fail, auth := p.fail, p.auth
		p.mu.Unlock()
		if auth != "" {
			u, pw, ok := r.BasicAuth()
			if !ok || u+":"+pw != auth {
				w.Header().Set("WWW-Authenticate", `Basic realm="imgraph-test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			r.Header.Del("Authorization")
		}
		if fail != nil {
			if code := fail(r); code != 0 {
				p.refused.Add(1)
				http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"test proxy says no"}]}`, code)
				return
			}
		}
		// Location headers of uploads name the real registry: rewrite them
		// so clients keep talking to the proxy.
		rp.ServeHTTP(&locRewriter{ResponseWriter: w, from: target.Host, to: p.host}, r)
	}))
	t.Cleanup(p.srv.Close)
	p.host = strings.TrimPrefix(p.srv.URL, "http://")
	return p
}

func (p *regProxy) set(fail func(*http.Request) int, auth string) {
	p.mu.Lock()
	p.fail, p.auth = fail, auth
	p.mu.Unlock()
}

type locRewriter struct {
	http.ResponseWriter
	from, to string
}

func (l *locRewriter) WriteHeader(code int) {
	if loc := l.Header().Get("Location"); loc != "" {
		l.Header().Set("Location", strings.Replace(loc, "//"+l.from+"/", "//"+l.to+"/", 1))
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *locRewriter) Flush() {
	if f, ok := l.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func isManifestLookup(r *http.Request) bool {
	return (r.Method == http.MethodHead || r.Method == http.MethodGet) && strings.Contains(r.URL.Path, "/manifests/")
}

// smallWorkspace is one FROM-scratch image for linux/amd64.
func smallWorkspace(t *testing.T, content string) string {
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{
		"WORKSPACE.star":        `workspace(platforms = ["linux/amd64"])` + "\n",
		"images/one/IMAGE.star": `image(version = "1.0")` + "\n",
		"images/one/Dockerfile": "FROM scratch\nCOPY x /x\n",
		"images/one/x":          content,
	})
	return ws
}

func TestBuildRegistry5xx(t *testing.T) {
	ns := strings.TrimPrefix(stackEnv(t), os.Getenv("IMGRAPH_TEST_REGISTRY"))
	for _, tc := range []struct {
		name    string
		failN   int64 // manifest lookups answered 503 before forwarding; -1 = every request, forever
		wantOK  bool
		wantMsg string
	}{
		{name: "transient", failN: 2, wantOK: true},
		{name: "forever", failN: -1, wantMsg: "kept failing (HTTP 503) after retries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newRegProxy(t)
			var seen atomic.Int64
			p.set(func(r *http.Request) int {
				if tc.failN < 0 {
					return http.StatusServiceUnavailable
				}
				if isManifestLookup(r) && seen.Add(1) <= tc.failN {
					return http.StatusServiceUnavailable
				}
				return 0
			}, "")
			reg := p.host + ns + "/" + tc.name
			ws := smallWorkspace(t, tc.name+"\n")
			t0 := time.Now()
			out, errOut, code := runCLI(t, "--workspace", ws, "--registry", reg, "build", "--push", "--progress", "quiet", "--output", "json")
			took := time.Since(t0)
			if tc.wantOK {
				if code != 0 {
					t.Fatalf("exit %d after %d refused requests\n%s\n%s", code, p.refused.Load(), out, errOut)
				}
				if p.refused.Load() != tc.failN {
					t.Errorf("proxy refused %d requests, want %d (the planner did not look up?)", p.refused.Load(), tc.failN)
				}
				if s := parseFaultSummary(t, out); s.Built != 1 {
					t.Errorf("built %d, want 1", s.Built)
				}
				if headDigest(t, reg+"/one:1.0") == "" {
					t.Error("no manifest list after the registry recovered")
				}
				return
			}
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, p.host) || !strings.Contains(errOut, tc.wantMsg) {
				t.Errorf("message does not name the registry %s and %q:\n%s", p.host, tc.wantMsg, errOut)
			}
			noTrace(t, "stderr", errOut)
			if took > 60*time.Second {
				t.Errorf("gave up after %s; retries must be bounded well under a minute", took)
			}
			t.Logf("gave up after %s and %d refused requests", took.Round(time.Millisecond), p.refused.Load())
		})
	}
}

// captureStderr redirects the process's stderr (the progress display
// writes there, not to the CLI's error writer) while f runs.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	tmp, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	old := os.Stderr
	os.Stderr = tmp
	defer func() { os.Stderr = old }()
	f()
	b, _ := os.ReadFile(tmp.Name())
	return string(b)
}

func TestBuildCredentialsNeverPrinted(t *testing.T) {
	ns := strings.TrimPrefix(stackEnv(t), os.Getenv("IMGRAPH_TEST_REGISTRY"))
	const user, pass = "imgraph", "s3cret-Pa55w0rd-xyzzy"
	b64 := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	p := newRegProxy(t)
	p.set(nil, user+":"+pass)
	cfgDir := t.TempDir()
	cfg := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, p.host, b64)
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// docker/cli fixes config.Dir() on first use; any earlier build in
	// this process has used it, so $DOCKER_CONFIG must be read afresh.
	config.Dir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	reg := p.host + ns
	ws := smallWorkspace(t, "creds\n")
	args := []string{"--workspace", ws, "--registry", reg, "build", "--push", "--progress", "plain", "--output", "json"}

	out, errOut, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("build with credentials from $DOCKER_CONFIG: exit %d\n%s\n%s", code, out, errOut)
	}
	if d := headDigest(t, os.Getenv("IMGRAPH_TEST_REGISTRY")+strings.TrimPrefix(reg, p.host)+"/one:1.0"); d == "" {
		t.Fatal("no manifest list behind the authenticating proxy")
	}

	for _, tc := range []struct {
		name string
		fail func(*http.Request) int
	}{
		// BuildKit's push fails: its error text reaches the report.
		{"push fails", func(r *http.Request) int {
			if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
				return http.StatusInternalServerError
			}
			return 0
		}},
		// The planner's lookups fail.
		{"registry down", func(*http.Request) int { return http.StatusInternalServerError }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.refused.Store(0)
			p.set(tc.fail, user+":"+pass)
			defer p.set(nil, user+":"+pass)
			writeFiles(t, ws, map[string]string{"images/one/x": tc.name + "\n"})
			var out, errOut string
			var code int
			progress := captureStderr(t, func() { out, errOut, code = runCLI(t, args...) })
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
			}
			if tc.name == "push fails" && !strings.Contains(progress, "pushing") {
				t.Errorf("the progress display was not captured; the check below would see nothing:\n%s", progress)
			}
			if p.refused.Load() == 0 {
				t.Fatal("the proxy refused nothing; the failure did not come from the registry")
			}
			for what, s := range map[string]string{"stdout": out, "stderr": errOut, "progress": progress} {
				for _, secret := range []string{pass, b64} {
					if strings.Contains(s, secret) {
						t.Errorf("%s shows the credentials (%q):\n%s", what, secret, s)
					}
				}
			}
			t.Logf("refused %d requests; stderr:\n%s", p.refused.Load(), errOut)
			if !strings.Contains(out+errOut, p.host) {
				t.Errorf("the failure does not name the registry %s:\n%s\n%s", p.host, out, errOut)
			}
		})
	}
}

// ---------------------------------------------------------------- Docker Engine builder

func dockerEnv(t *testing.T) (host, certs string) {
	t.Helper()
	host, certs = os.Getenv("DOCKER_HOST"), os.Getenv("DOCKER_CERT_PATH")
	if !strings.HasPrefix(host, "tcp://") || certs == "" {
		t.Skip("needs the local stack's TLS dockerd: eval \"$(hack/local-stack.sh env)\"")
	}
	if os.Getenv("IMGRAPH_TEST_REGISTRY") != "127.0.0.1:5000" {
		t.Skip("the stack's dockerd trusts only the registry at 127.0.0.1:5000")
	}
	return host, certs
}

func dockerWorkspace(t *testing.T, builder string) string {
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{
		"WORKSPACE.star":          "workspace(platforms = [\"linux/amd64\", \"linux/arm64\"])\n" + builder + "\n",
		"images/root/IMAGE.star":  `image(version = "1.0")` + "\n",
		"images/root/Dockerfile":  "FROM scratch\nCOPY f /f\n",
		"images/root/f":           "from root\n",
		"images/child/IMAGE.star": `image(version = "2.0", base = "//root")` + "\n",
		"images/child/Dockerfile": "ARG BASEIMAGE\nFROM $BASEIMAGE\nCOPY g /g\n",
		"images/child/g":          "from child\n",
	})
	return ws
}

func TestBuildDockerBuilder(t *testing.T) {
	reg := stackEnv(t)
	host, certs := dockerEnv(t)
	builder := fmt.Sprintf("docker_builder(platforms = [\"linux/amd64\"], host = %q, cert_dir = %q)", host, certs)
	ws := dockerWorkspace(t, builder)
	args := []string{"--workspace", ws, "--registry", reg, "build", "--push", "--progress", "quiet", "--output", "json"}
	out, errOut, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	s := parseFaultSummary(t, out)
	for _, img := range []struct{ label, repo string }{{"//root", "root:1.0"}, {"//child", "child:2.0"}} {
		for _, plat := range []string{"linux/amd64", "linux/arm64"} {
			st, _, _, b := s.node(t, img.label+"@"+plat)
			want := "buildkit"
			if plat == "linux/amd64" {
				want = "docker"
			}
			if st != "built" || !strings.HasPrefix(b, want) {
				t.Errorf("%s@%s: %q on %q, want built on %s", img.label, plat, st, b, want)
			}
		}
		// One list with both platforms, each entry the per-platform tag's image.
		ref, _ := name.ParseReference(reg+"/"+img.repo, name.Insecure)
		idx, err := remote.Index(ref)
		if err != nil {
			t.Fatalf("manifest list %s: %v", ref, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, m := range im.Manifests {
			got[m.Platform.String()] = m.Digest.String()
		}
		if len(got) != 2 || len(im.Manifests) != 2 {
			t.Errorf("%s lists %v, want linux/amd64 and linux/arm64 once each", img.repo, got)
		}
		for _, plat := range []string{"linux/amd64", "linux/arm64"} {
			tag := reg + "/" + img.repo + "-" + strings.ReplaceAll(plat, "/", "-")
			if d := headDigest(t, tag); d == "" || got[plat] != d {
				t.Errorf("%s: list has %s = %q, tag %s is %q", img.repo, plat, got[plat], tag, d)
			}
		}
	}
	if got := fileInImage(t, reg+"/child:2.0-linux-amd64", "f"); got != "from root\n" {
		t.Errorf("docker-built child does not build on its parent: f = %q", got)
	}

	// Nothing changed: the docker-built images carry the input digest too.
	out, errOut, code = runCLI(t, args...)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out, errOut)
	}
	if s := parseFaultSummary(t, out); s.UpToDate != 4 || s.Built != 0 {
		t.Errorf("second run: built %d, up to date %d, want 0 and 4\n%s", s.Built, s.UpToDate, out)
	}
}

// writeBadClientCert puts the daemon's real CA next to a self-signed
// client certificate the daemon does not trust.
func writeBadClientCert(t *testing.T, realCerts string) string {
	t.Helper()
	dir := t.TempDir()
	ca, err := os.ReadFile(filepath.Join(realCerts, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "not-the-daemons-client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"ca.pem":   string(ca),
		"cert.pem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		"key.pem":  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})),
	})
	return dir
}

func TestBuildDockerBuilderTLSFaults(t *testing.T) {
	stackEnv(t)
	host, certs := dockerEnv(t)
	bad := writeBadClientCert(t, certs)
	empty := t.TempDir()
	for _, tc := range []struct {
		name    string
		builder string
		want    []string
		notWant string
	}{
		{"wrong client certificate", fmt.Sprintf("docker_builder(platforms = [\"linux/amd64\"], host = %q, cert_dir = %q)", host, bad),
			[]string{"refused our client certificate", bad}, ""},
		{"no certificates", fmt.Sprintf("docker_builder(platforms = [\"linux/amd64\"], host = %q, cert_dir = %q)", host, empty),
			[]string{"TLS client certificates required", "insecure = True"}, ""},
		// insecure lifts the refusal; the daemon then answers plain HTTP with its TLS hint.
		{"insecure against a TLS daemon", fmt.Sprintf("docker_builder(platforms = [\"linux/amd64\"], host = %q, cert_dir = %q, insecure = True)", host, empty),
			[]string{"expects TLS"}, "TLS client certificates required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := stackEnv(t)
			ws := dockerWorkspace(t, tc.builder)
			t0 := time.Now()
			out, errOut, code := runCLI(t, "--workspace", ws, "--registry", reg, "build", "--push", "--progress", "quiet", "--output", "json", "//root")
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
			}
			s := parseFaultSummary(t, out)
			st, _, msg, _ := s.node(t, "//root@linux/amd64")
			t.Logf("reported: %s", msg)
			if st != "failed" {
				t.Errorf("//root@linux/amd64 is %q, want failed", st)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not say %q:\n%s", w, msg)
				}
			}
			if tc.notWant != "" && strings.Contains(msg, tc.notWant) {
				t.Errorf("error says %q:\n%s", tc.notWant, msg)
			}
			noTrace(t, "error", msg+errOut)
			if strings.Contains(msg, "docker_builder :") || strings.Contains(msg, ".docker-)") {
				t.Errorf("a builder declared by platforms is named with an empty os_version:\n%s", msg)
			}
			if st, _, _, _ := s.node(t, "//root@linux/arm64"); st != "built" {
				t.Errorf("the arm64 node on BuildKit is %q, want built", st)
			}
			if d := headDigest(t, reg+"/root:1.0"); d != "" {
				t.Errorf("manifest list root:1.0 written (%s) without its amd64 image", d)
			}
			if took := time.Since(t0); took > 30*time.Second {
				t.Errorf("took %s to report a configuration error", took)
			}
		})
	}
}

// windowsWorkspace: a Linux image with a Windows variant for ltsc2022 and
// no docker_builder, so only REMOTE_DOCKER_URL_LTSC2022 can make one.
func windowsWorkspace(t *testing.T) string {
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{
		"WORKSPACE.star": `workspace(platforms = ["linux/amd64", "linux/arm64"])` + "\n",
		"images/win/IMAGE.star": `image(
    version = "1.0",
    windows = windows(os_versions = ["ltsc2022"], dockerfile = "Dockerfile_windows"),
)
`,
		"images/win/Dockerfile":         "FROM scratch\nCOPY f /f\n",
		"images/win/Dockerfile_windows": "FROM scratch\nCOPY f /f\n",
		"images/win/f":                  "win\n",
	})
	return ws
}

func TestBuildWindowsNodes(t *testing.T) {
	stackEnv(t)
	host, certs := dockerEnv(t)
	const winID = "//win@windows/amd64/ltsc2022"
	linuxIDs := []string{"//win@linux/amd64", "//win@linux/arm64"}

	t.Run("REMOTE_DOCKER_URL on a Linux daemon", func(t *testing.T) {
		reg := stackEnv(t)
		base := t.TempDir()
		if err := os.Symlink(certs, filepath.Join(base, ".docker-ltsc2022")); err != nil {
			t.Fatal(err)
		}
		t.Setenv("REMOTE_DOCKER_URL_LTSC2022", host)
		t.Setenv("DOCKER_CERT_BASE_PATH", base)
		out, errOut, code := runCLI(t, "--workspace", windowsWorkspace(t), "--registry", reg, "build", "--push", "--progress", "quiet", "--output", "json")
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
		}
		s := parseFaultSummary(t, out)
		st, _, msg, b := s.node(t, winID)
		t.Logf("reported: %s", msg)
		if st != "failed" || !strings.HasPrefix(b, "docker "+host) || !strings.Contains(msg, "is a linux daemon") || !strings.Contains(msg, "cannot build windows/amd64/ltsc2022") {
			t.Errorf("%s: %q on %q: %s; want failed with the OS-type mismatch", winID, st, b, msg)
		}
		noTrace(t, "error", msg+errOut)
		for _, id := range linuxIDs {
			if st, _, _, _ := s.node(t, id); st != "built" {
				t.Errorf("%s is %q, want built", id, st)
			}
		}
		if d := headDigest(t, reg+"/win:1.0"); d != "" {
			t.Errorf("list win:1.0 written (%s) without its Windows image", d)
		}
	})

	t.Run("no Windows builder", func(t *testing.T) {
		reg := stackEnv(t)
		ws := windowsWorkspace(t)
		args := []string{"--workspace", ws, "--registry", reg, "build", "--push", "--progress", "quiet", "--output", "json"}
		out, errOut, code := runCLI(t, args...)
		if code != 1 {
			t.Fatalf("exit %d, want 1 (a list without its Windows platform)\n%s\n%s", code, out, errOut)
		}
		s := parseFaultSummary(t, out)
		if st, reason, _, _ := s.node(t, winID); st != "not built" || reason != "no builder for windows/amd64/ltsc2022" {
			t.Errorf("%s: %q (%s), want not built: no builder for windows/amd64/ltsc2022", winID, st, reason)
		}
		if _, e, _, _ := s.list("//win"); !strings.Contains(e, "windows/amd64/ltsc2022") {
			t.Errorf("list error %q does not name the missing platform", e)
		}
		if d := headDigest(t, reg+"/win:1.0"); d != "" {
			t.Errorf("list win:1.0 written (%s) without --allow-missing-platforms", d)
		}

		out, errOut, code = runCLI(t, append(args, "--allow-missing-platforms")...)
		if code != 0 {
			t.Fatalf("--allow-missing-platforms: exit %d\n%s\n%s", code, out, errOut)
		}
		s = parseFaultSummary(t, out)
		d, e, missing, _ := s.list("//win")
		if e != "" || strings.Join(missing, ",") != "windows/amd64/ltsc2022" {
			t.Errorf("list: error %q, missing %v; want published without windows/amd64/ltsc2022", e, missing)
		}
		ref, _ := name.ParseReference(reg+"/win:1.0", name.Insecure)
		idx, err := remote.Index(ref)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		im, _ := idx.IndexManifest()
		var plats []string
		for _, m := range im.Manifests {
			plats = append(plats, m.Platform.String())
		}
		if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
			t.Errorf("list platforms %v, want the Linux ones only", plats)
		}
		if dg, _ := idx.Digest(); dg.String() != d {
			t.Errorf("report says %s, registry has %s", d, dg)
		}
	})
}

// slowChainWorkspace: a quick image a, an image b whose RUN sleeps (and
// carries token, so the test can find the process), and c built on b.
func slowChainWorkspace(t *testing.T, token string, sleep int) string {
	t.Helper()
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{
		"WORKSPACE.star":      `workspace(platforms = ["linux/amd64"])` + "\n",
		"images/a/IMAGE.star": `image(version = "1.0")` + "\n",
		"images/a/Dockerfile": "FROM scratch\nCOPY x /x\n",
		"images/a/x":          "a\n",
		"images/b/IMAGE.star": `image(
    version = "1.0",
    prebuild = [deb_file(package = "busybox-static", path = "bin/busybox", out = "busybox")],
)
`,
		"images/b/Dockerfile": slowDockerfile(token, sleep),
		"images/c/IMAGE.star": `image(version = "1.0", base = "//b")` + "\n",
		"images/c/Dockerfile": "ARG BASEIMAGE\nFROM $BASEIMAGE\nCOPY y /y\n",
		"images/c/y":          "c\n",
	})
	return ws
}

// slowDockerfile copies busybox in and runs one RUN step that sleeps.
func slowDockerfile(token string, sleep int) string {
	return fmt.Sprintf("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox sleep %d; /bin/busybox true %s\"]\n", sleep, token)
}
