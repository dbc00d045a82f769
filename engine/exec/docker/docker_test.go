package docker

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/moby/api/types/system"

	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/platform"
)

func TestConfigFor(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name string
		decl load.DockerBuilder
		env  map[string]string
		want Config
	}{
		{
			name: "declaration only, default cert dir under HOME",
			decl: load.DockerBuilder{OSVersion: "ltsc2022", Host: "tcp://win:2376"},
			env:  map[string]string{"HOME": "/home/u"},
			want: Config{Host: "tcp://win:2376", CertDir: "/home/u/.docker-ltsc2022", OSVersion: "ltsc2022"},
		},
		{
			name: "REMOTE_DOCKER_URL_ overrides host; DOCKER_CERT_BASE_PATH sets the cert dir",
			decl: load.DockerBuilder{OSVersion: "ltsc2022", Host: "tcp://win:2376", Isolation: "hyperv"},
			env:  map[string]string{"HOME": "/home/u", "REMOTE_DOCKER_URL_LTSC2022": "tcp://other:2376", "DOCKER_CERT_BASE_PATH": "/certs"},
			want: Config{Host: "tcp://other:2376", CertDir: "/certs/.docker-ltsc2022", OSVersion: "ltsc2022", Isolation: "hyperv"},
		},
		{
			name: "cert_dir wins over DOCKER_CERT_BASE_PATH and ~ expands",
			decl: load.DockerBuilder{OSVersion: "1809", Host: "tcp://a:1", CertDir: "~/my-certs", Insecure: true},
			env:  map[string]string{"HOME": "/root", "DOCKER_CERT_BASE_PATH": "/certs"},
			want: Config{Host: "tcp://a:1", CertDir: "/root/my-certs", OSVersion: "1809", Insecure: true},
		},
		{
			name: "another release's override does not apply",
			decl: load.DockerBuilder{OSVersion: "1809", Host: "tcp://a:1", CertDir: "/abs"},
			env:  map[string]string{"REMOTE_DOCKER_URL_LTSC2022": "tcp://b:2"},
			want: Config{Host: "tcp://a:1", CertDir: "/abs", OSVersion: "1809"},
		},
		{
			name: "host only from the environment",
			decl: load.DockerBuilder{OSVersion: "20H2"},
			env:  map[string]string{"HOME": "/h", "REMOTE_DOCKER_URL_20H2": "tcp://c:3"},
			want: Config{Host: "tcp://c:3", CertDir: "/h/.docker-20H2", OSVersion: "20H2"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ConfigFor(c.decl, env(c.env)); got != c.want {
				t.Errorf("ConfigFor = %+v\nwant        %+v", got, c.want)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	cases := []struct {
		cfg  Config
		kind error
		says string
	}{
		{Config{OSVersion: "ltsc2022"}, ErrNoHost, "REMOTE_DOCKER_URL_LTSC2022"},
		{Config{Host: "tcp://127.0.0.1:1", CertDir: t.TempDir()}, ErrTLSRequired, "insecure = True"},
	}
	for _, c := range cases {
		_, err := New(context.Background(), c.cfg)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("New(%+v) = %v, want %v mentioning %q", c.cfg, err, c.kind, c.says)
		}
	}
	if _, err := New(context.Background(), Config{Host: "tcp://h:1", Isolation: "hyper-v"}); err == nil || !strings.Contains(err.Error(), "isolation") {
		t.Errorf("bad isolation accepted: %v", err)
	}
}

// fakeDaemon is a test double of a Windows daemon's /_ping, /version and
// /info behind mutual TLS (client certificates from ca required).
func fakeDaemon(t *testing.T, ca *testCA, info system.Info) (host string, serverCA []byte) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Ostype", info.OSType)
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			io.WriteString(w, "OK")
		case strings.HasSuffix(r.URL.Path, "/version"):
			json.NewEncoder(w).Encode(map[string]string{"ApiVersion": "1.41", "Os": info.OSType, "Arch": "amd64", "Version": "20.10.9"})
		case strings.HasSuffix(r.URL.Path, "/info"):
			json.NewEncoder(w).Encode(info)
		default:
			http.NotFound(w, r)
		}
	}))
	ts.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are expected
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return "tcp://" + ts.Listener.Addr().String(),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
}

var info1809 = system.Info{
	OSType:          "windows",
	Architecture:    "x86_64",
	KernelVersion:   "10.0 17763 (17763.1.amd64fre.rs5_release.180914-1434)",
	OperatingSystem: "Windows Server 2019 Datacenter Version 1809 (OS Build 17763.5820)",
	OSVersion:       "10.0 17763 (17763.1.amd64fre.rs5_release.180914-1434)",
	ServerVersion:   "20.10.9",
}

func TestCheckPlatformAgainstWindowsDaemon(t *testing.T) {
	ca := newTestCA(t, "client CA")
	now := time.Now()
	cert, key := ca.issue(t, false, now.Add(-time.Hour), now.Add(time.Hour))
	host, srvCA := fakeDaemon(t, ca, info1809)
	dir := certDir(t, srvCA, cert, key)

	mustParse := func(s string) platform.Platform {
		p, err := platform.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		isolation, platform string
		ok                  bool
		says                []string
	}{
		{"", "windows/amd64/ltsc2022", false, []string{"10.0.17763", "10.0.20348", "ltsc2022", `isolation = "hyperv"`, "REMOTE_DOCKER_URL_LTSC2022"}},
		{"process", "windows/amd64/ltsc2022", false, []string{"10.0.20348"}},
		{"hyperv", "windows/amd64/ltsc2022", true, nil},
		{"", "windows/amd64/1809", true, nil},
		{"", "windows/amd64/ltsc2019", true, nil}, // same build as 1809
		{"", "windows/arm64/1809", false, []string{"amd64"}},
		{"", "linux/amd64", false, []string{"windows daemon"}},
	}
	for _, c := range cases {
		t.Run(c.isolation+" "+c.platform, func(t *testing.T) {
			e, err := New(context.Background(), Config{Host: host, CertDir: dir, OSVersion: "1809", Isolation: c.isolation})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			err = e.CheckPlatform(mustParse(c.platform))
			if c.ok {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrPlatform) {
				t.Fatalf("err = %v, want ErrPlatform", err)
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message lacks %q: %v", s, err)
				}
			}
		})
	}

	// A modern TLS stack names the reason it rejects a client certificate
	// (unknown CA, none sent); both must still read as a bad client cert.
	other := newTestCA(t, "other CA")
	oc, ok := other.issue(t, false, now.Add(-time.Hour), now.Add(time.Hour))
	_, err := New(context.Background(), Config{Host: host, CertDir: certDir(t, srvCA, oc, ok)})
	if !errors.Is(err, ErrBadClientCert) {
		t.Errorf("client cert from another CA: err = %v, want ErrBadClientCert", err)
	}
}

func TestNotADockerDaemon(t *testing.T) {
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	ca := newTestCA(t, "c")
	cert, key := ca.issue(t, false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	dir := certDir(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), cert, key)
	_, err := New(context.Background(), Config{Host: "tcp://" + ts.Listener.Addr().String(), CertDir: dir})
	if !errors.Is(err, ErrNotDocker) || !strings.Contains(err.Error(), "404") {
		t.Errorf("err = %v, want ErrNotDocker with the 404", err)
	}
}

func TestWindowsBuild(t *testing.T) {
	cases := []struct {
		info system.Info
		want string
	}{
		{info1809, "10.0.17763"},
		{system.Info{KernelVersion: "10.0 20348 (20348.1.amd64fre.fe_release.210507-1500)"}, "10.0.20348"},
		{system.Info{OperatingSystem: "Windows Server 2025 Datacenter Version 24H2 (OS Build 26100.1742)"}, "10.0.26100"},
		{system.Info{KernelVersion: "6.1.0-18-amd64"}, ""},
	}
	for _, c := range cases {
		if got := windowsBuild(c.info); got != c.want {
			t.Errorf("windowsBuild(%q, %q) = %q, want %q", c.info.KernelVersion, c.info.OperatingSystem, got, c.want)
		}
	}
}

func TestContextTar(t *testing.T) {
	root := t.TempDir()
	ctxDir := filepath.Join(root, "ctx")
	writeFiles(t, ctxDir, map[string]string{
		"a.txt":            "a",
		"notes.md":         "ignored",
		"keep.md":          "re-included",
		"logs/x.log":       "ignored dir",
		"src/main.go":      "package main",
		"src/gen/out.txt":  "ignored nested",
		"payload":          "context payload",
		".dockerignore":    "*.md\n!keep.md\nlogs\nsrc/gen\n",
		"Dockerfile":       "FROM in-context\n",
		"bin/tool":         "context tool",
		"dir/untouched.go": "x",
	})
	if err := os.Symlink("a.txt", filepath.Join(ctxDir, "link")); err != nil {
		t.Fatal(err)
	}
	extraDir := t.TempDir()
	writeFiles(t, extraDir, map[string]string{"p.bin": "extra payload", "tool": "extra tool"})
	writeFiles(t, root, map[string]string{"df/Dockerfile.windows": "FROM outside\n"})

	read := func(dockerfile string) map[string]string {
		rc, err := contextTar(context.Background(), ctxDir, dockerfile, map[string]string{
			"payload":  filepath.Join(extraDir, "p.bin"),
			"bin/tool": filepath.Join(extraDir, "tool"),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		out := map[string]string{}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := out[h.Name]; dup {
				t.Errorf("duplicate tar entry %s", h.Name)
			}
			b, _ := io.ReadAll(tr)
			switch h.Typeflag {
			case tar.TypeSymlink:
				out[h.Name] = "-> " + h.Linkname
			case tar.TypeDir:
				out[h.Name] = "dir"
			default:
				out[h.Name] = string(b)
			}
		}
	}
	got := read(filepath.Join(root, "df/Dockerfile.windows"))
	want := map[string]string{
		"a.txt": "a", "keep.md": "re-included", "src/": "dir", "src/main.go": "package main",
		"Dockerfile": "FROM in-context\n", "bin/": "dir", "dir/": "dir", "dir/untouched.go": "x",
		"link": "-> a.txt", "payload": "extra payload", "bin/tool": "extra tool",
		dockerfileName: "FROM outside\n",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("context tar:\n got %v\nwant %v", keys(got), keys(want))
		for k, v := range want {
			if got[k] != v {
				t.Errorf("  %s = %q, want %q", k, got[k], v)
			}
		}
	}

	// A Dockerfile-specific ignore file replaces .dockerignore, as in BuildKit.
	writeFiles(t, root, map[string]string{"df/Dockerfile.windows.dockerignore": "a.txt\n"})
	got = read(filepath.Join(root, "df/Dockerfile.windows"))
	if _, ok := got["a.txt"]; ok {
		t.Error("a.txt sent although Dockerfile.windows.dockerignore excludes it")
	}
	if _, ok := got["notes.md"]; !ok {
		t.Error("notes.md missing: .dockerignore applied although a Dockerfile-specific one exists")
	}

	if _, err := contextTar(context.Background(), ctxDir, filepath.Join(root, "nope"), nil); err == nil {
		t.Error("missing Dockerfile accepted")
	}
	if _, err := contextTar(context.Background(), ctxDir, filepath.Join(ctxDir, "Dockerfile"), map[string]string{"../escape": filepath.Join(extraDir, "tool")}); err == nil {
		t.Error("extra file outside the context accepted")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestReadStream(t *testing.T) {
	var lines []string
	for i := 1; i <= 25; i++ {
		lines = append(lines, `{"stream":"Step `+string(rune('a'+i-1))+`\n"}`)
	}
	cases := []struct {
		name    string
		stream  string
		wantErr string
		tailLen int
		aux     string
		status  bool
	}{
		{
			name:    "error keeps the last 20 lines",
			stream:  strings.Join(lines, "\n") + `{"errorDetail":{"message":"COPY failed: no such file"},"error":"COPY failed: no such file"}`,
			wantErr: "COPY failed: no such file",
			tailLen: 20,
		},
		{
			name:   "push with layer progress and the digest",
			stream: `{"status":"Pushing","progressDetail":{"current":5,"total":10},"id":"abc"}{"status":"Pushed","progressDetail":{},"id":"abc"}{"progressDetail":{},"aux":{"Tag":"t","Digest":"sha256:` + strings.Repeat("0", 64) + `","Size":1}}`,
			aux:    `"Digest":"sha256:` + strings.Repeat("0", 64),
			status: true, tailLen: 1,
		},
		{name: "truncated stream", stream: `{"stream":"x`, wantErr: "read daemon output"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := make(chan *bkclient.SolveStatus, 100)
			pg := newProgress(context.Background(), ch)
			v := pg.vertex("v")
			var aux string
			tail, err := readStream(strings.NewReader(c.stream), pg, v, func(m json.RawMessage) { aux += string(m) })
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
			if len(tail) != c.tailLen {
				t.Errorf("tail has %d lines, want %d: %q", len(tail), c.tailLen, tail)
			}
			if c.tailLen == 20 && tail[19] != "Step y" {
				t.Errorf("tail does not end with the last line: %q", tail)
			}
			if !strings.Contains(aux, c.aux) {
				t.Errorf("aux = %q, want %q", aux, c.aux)
			}
			pg.close()
			var sawStatus bool
			for m := range ch {
				for _, s := range m.Statuses {
					sawStatus = sawStatus || (s.ID == "abc" && s.Total == 10 && s.Current == 5 && s.Vertex == v)
				}
			}
			if sawStatus != c.status {
				t.Errorf("layer progress status seen = %v, want %v", sawStatus, c.status)
			}
		})
	}
}

// An expired daemon certificate is reported as such, not as a wrong CA.
func TestExpiredServerCertificate(t *testing.T) {
	ca := newTestCA(t, "CA")
	now := time.Now()
	srvCert, srvKey := ca.issue(t, true, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	pair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()
	cert, key := ca.issue(t, false, now.Add(-time.Hour), now.Add(time.Hour))
	_, err = New(context.Background(), Config{Host: "tcp://" + ts.Listener.Addr().String(), CertDir: certDir(t, ca.pem, cert, key)})
	if !errors.Is(err, ErrExpiredCert) || !strings.Contains(err.Error(), "server certificate has expired") {
		t.Errorf("err = %v, want ErrExpiredCert about the server certificate", err)
	}
}
