package exec

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/platform"
)

var amd64 = platform.Platform{OS: "linux", Arch: "amd64"}

// entries lists a directory tree below dir (relative paths).
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func goModule(t *testing.T, root, pkg, main string) {
	t.Helper()
	if _, err := osexec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	for name, data := range map[string]string{"go.mod": "module example.com/m\n\ngo 1.21\n", pkg + "/main.go": main} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPrebuildGoBinary: a failed go build leaves nothing in the cache
// (no output, no temporary file); two Prebuilders sharing the cache, as two
// imgraph processes do, produce one binary at once without errors or
// leftovers.
func TestPrebuildGoBinary(t *testing.T) {
	root := t.TempDir()
	goModule(t, root, "bad", "package main\n\nfunc main() { undefined() }\n")
	goModule(t, root, "good", "package main\n\nfunc main() {}\n")
	cache := filepath.Join(t.TempDir(), "prebuild")
	node := func(pkg string) load.Node {
		return load.Node{Prebuild: []load.Prebuild{{Kind: "go_binary", Package: pkg, Out: "bin"}}}
	}

	pb := &Prebuilder{Root: root, CacheDir: cache}
	if _, err := pb.Run(context.Background(), node("bad"), amd64, "k-bad"); err == nil || !strings.Contains(err.Error(), "undefined") {
		t.Fatalf("go build of a broken package: %v", err)
	}
	if left := entries(t, cache); len(left) > 1 { // the node's (empty) directory may stay
		t.Errorf("a failed go build left %v", left)
	}

	const n = 4
	var wg sync.WaitGroup
	outs := make([]map[string]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pb := &Prebuilder{Root: root, CacheDir: cache}
			outs[i], errs[i] = pb.Run(context.Background(), node("good"), amd64, "k-good")
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		if outs[i]["bin"] != outs[0]["bin"] {
			t.Errorf("runs disagree on the output path: %s, %s", outs[i]["bin"], outs[0]["bin"])
		}
	}
	st, err := os.Stat(outs[0]["bin"])
	if err != nil || st.Mode()&0o100 == 0 || st.Size() == 0 {
		t.Fatalf("binary: %v, %v", st, err)
	}
	dir := filepath.Dir(outs[0]["bin"])
	if got := entries(t, dir); strings.Join(got, ",") != "bin" {
		t.Errorf("output directory holds %v, want only bin", got)
	}
}

// buildDeb makes a .deb named for findDeb in dir with the given files (a
// "->" value makes a symlink).
func buildDeb(t *testing.T, dir, pkg string, files map[string]string) string {
	t.Helper()
	if _, err := osexec.LookPath("dpkg-deb"); err != nil {
		t.Skip("needs dpkg-deb")
	}
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "DEBIAN"), 0o755)
	control := "Package: " + pkg + "\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@example.com>\nDescription: test\n"
	if err := os.WriteFile(filepath.Join(src, "DEBIAN", "control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		var err error
		if target, ok := strings.CutPrefix(data, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(data), 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dir, pkg+"_1.0_amd64.deb")
	if out, err := osexec.Command("dpkg-deb", "-Zgzip", "--root-owner-group", "--build", src, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return deb
}

// TestPrebuildDebEarlyReturn: extraction returns promptly whether the path
// is found, missing or not a regular file, also with much more data after
// it than a pipe holds (dpkg-deb is not left blocked writing while we wait
// for it).
func TestPrebuildDebEarlyReturn(t *testing.T) {
	cache := t.TempDir()
	debDir := filepath.Join(cache, "debs", "amd64")
	os.MkdirAll(debDir, 0o755)
	big := make([]byte, 4<<20)
	rand.Read(big)
	buildDeb(t, debDir, "pkg", map[string]string{"a/link": "->target", "z/big": string(big), "b/file": "content\n"})

	tests := []struct {
		path, want, errPart string
	}{
		{path: "a/link", errPart: "is not a regular file"},
		// dpkg-deb writes directories first: 4 MiB are still unread.
		{path: "b", errPart: "is not a regular file"},
		{path: "/b/file", want: "content\n"},
		{path: "no/such", errPart: "has no file no/such"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			node := load.Node{Prebuild: []load.Prebuild{{Kind: "deb_file", DebPackage: "pkg", DebPath: tc.path, Out: "out"}}}
			pb := &Prebuilder{CacheDir: cache}
			type result struct {
				out map[string]string
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := pb.Run(context.Background(), node, amd64, "k-"+tc.path)
				done <- result{out, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return (dpkg-deb blocked on a full pipe?)")
			}
			if tc.errPart != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tc.errPart) {
					t.Fatalf("error %v, want one saying %q", r.err, tc.errPart)
				}
				return
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			if b, err := os.ReadFile(r.out["out"]); err != nil || string(b) != tc.want {
				t.Errorf("extracted %q (%v), want %q", b, err, tc.want)
			}
		})
	}
}

// TestPrebuildDebConcurrentDownload: while one process's download of a
// .deb is half written, another process sharing the cache must not pick
// up the partial file; both end up with the right content.
func TestPrebuildDebConcurrentDownload(t *testing.T) {
	full, err := os.ReadFile(buildDeb(t, t.TempDir(), "pkg", map[string]string{"bin/tool": "the tool\n"}))
	if err != nil {
		t.Fatal(err)
	}
	halfWritten := make(chan struct{})
	resume := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	old := aptDownload
	defer func() { aptDownload = old }()
	aptDownload = func(ctx context.Context, dir, spec string) ([]byte, error) {
		if spec != "pkg:amd64" {
			t.Errorf("apt-get download %s", spec)
		}
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		f, err := os.Create(filepath.Join(dir, "pkg_1.0_amd64.deb"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if first { // stall half way, as a slow download does
			f.Write(full[:len(full)/2])
			close(halfWritten)
			<-resume
			_, err = f.Write(full[len(full)/2:])
			return nil, err
		}
		_, err = f.Write(full)
		return nil, err
	}

	cache := t.TempDir()
	node := load.Node{Prebuild: []load.Prebuild{{Kind: "deb_file", DebPackage: "pkg", DebPath: "bin/tool", Out: "tool"}}}
	run := func(key string) (string, error) {
		pb := &Prebuilder{CacheDir: cache} // one per process: no shared in-memory lock
		out, err := pb.Run(context.Background(), node, amd64, key)
		if err != nil {
			return "", err
		}
		b, err := os.ReadFile(out["tool"])
		return string(b), err
	}
	first := make(chan error, 1)
	go func() {
		got, err := run("k1")
		if err == nil && got != "the tool\n" {
			t.Errorf("first process extracted %q", got)
		}
		first <- err
	}()
	<-halfWritten
	got, err := run("k2")
	close(resume)
	if err != nil || got != "the tool\n" {
		t.Errorf("second process: %q, %v", got, err)
	}
	if err := <-first; err != nil {
		t.Errorf("first process: %v", err)
	}
	if left := entries(t, filepath.Join(cache, "debs", "amd64")); strings.Join(left, ",") != "pkg_1.0_amd64.deb" {
		t.Errorf("deb directory holds %v, want only the .deb", left)
	}
}

func init() {
	// The deb tests never reach apt-get unless a test sets aptDownload.
	aptDownload = func(ctx context.Context, dir, spec string) ([]byte, error) {
		return nil, errors.New("no downloads in tests")
	}
}
