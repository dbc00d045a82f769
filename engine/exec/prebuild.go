package exec

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/platform"
)

// Prebuilder runs a node's host steps (go_binary, deb_file) and caches
// their outputs by the node's prebuild input digest, as the legacy
// `make bin` did per platform.
type Prebuilder struct {
	Root     string // absolute workspace root
	CacheDir string // e.g. <root>/.imgraph/cache/prebuild
	mu       sync.Mutex
	debs     map[string]*sync.Mutex
}

// Run produces every prebuild output of decl for p and returns context
// name → host path. key is the node's prebuild input digest.
func (pb *Prebuilder) Run(ctx context.Context, decl load.Node, p platform.Platform, key string) (map[string]string, error) {
	if len(decl.Prebuild) == 0 {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(key + "\x00" + p.String()))
	dir := filepath.Join(pb.CacheDir, hex.EncodeToString(sum[:12]))
	out := map[string]string{}
	for _, step := range decl.Prebuild {
		if step.Kind == "deb_file" && p.IsWindows() {
			continue // Debian has no Windows packages; the Windows Dockerfile brings its own
		}
		dst := filepath.Join(dir, step.Out)
		out[step.Out] = dst
		if _, err := os.Stat(dst); err == nil {
			continue // cached: same inputs, same platform
		}
		if err := pb.produce(ctx, step, p, dir, dst); err != nil {
			return nil, fmt.Errorf("%s %s for %s (%s): %w", step.Kind, step.Out, p, step.Pos, err)
		}
	}
	return out, nil
}

// produce runs one step into a private temporary directory beside dst and
// renames the output into place: two imgraph processes sharing the cache
// may produce the same output at once, and the rename makes either win
// without anyone seeing a partial file. A failed step leaves nothing.
func (pb *Prebuilder) produce(ctx context.Context, step load.Prebuild, p platform.Platform, dir, dst string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmpDir, err := os.MkdirTemp(dir, ".tmp-"+step.Out+"-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, step.Out)
	switch step.Kind {
	case "go_binary":
		err = pb.goBinary(ctx, step, p, tmp)
	case "deb_file":
		err = pb.debFile(ctx, step, p, tmp)
	default:
		err = fmt.Errorf("unknown prebuild kind %q", step.Kind)
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func goEnv(p platform.Platform) []string {
	env := []string{"CGO_ENABLED=0", "GOOS=" + p.OS, "GOARCH=" + p.Arch}
	if p.Arch == "arm" {
		v := strings.TrimPrefix(p.Variant, "v")
		if v == "" {
			v = "7"
		}
		env = append(env, "GOARM="+v)
	}
	return env
}

func (pb *Prebuilder) goBinary(ctx context.Context, step load.Prebuild, p platform.Platform, dst string) error {
	pkgDir := filepath.Join(pb.Root, filepath.FromSlash(step.Package))
	abs, err := filepath.Abs(dst)
	if err != nil {
		return err
	}
	ldflags := "-s -w"
	if step.Ldflags != "" {
		ldflags += " " + step.Ldflags
	}
	cmd := osexec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", abs, ".")
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), goEnv(p)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build in %s: %v\n%s", pkgDir, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// debArch maps a platform to Debian's architecture name.
func debArch(p platform.Platform) (string, error) {
	switch p.Arch {
	case "amd64", "arm64", "s390x", "riscv64":
		return p.Arch, nil
	case "ppc64le":
		return "ppc64el", nil
	case "386":
		return "i386", nil
	case "arm":
		if p.Variant == "v5" || p.Variant == "v6" {
			return "armel", nil
		}
		return "armhf", nil
	}
	return "", fmt.Errorf("no Debian architecture for %s", p)
}

func (pb *Prebuilder) debLock(k string) *sync.Mutex {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.debs == nil {
		pb.debs = map[string]*sync.Mutex{}
	}
	if pb.debs[k] == nil {
		pb.debs[k] = &sync.Mutex{}
	}
	return pb.debs[k]
}

func (pb *Prebuilder) debFile(ctx context.Context, step load.Prebuild, p platform.Platform, dst string) error {
	arch, err := debArch(p)
	if err != nil {
		return err
	}
	spec := step.DebPackage + ":" + arch
	if step.DebVersion != "" {
		spec += "=" + step.DebVersion
	}
	debDir := filepath.Join(pb.CacheDir, "debs", arch)
	if err := os.MkdirAll(debDir, 0o755); err != nil {
		return err
	}
	l := pb.debLock(spec)
	l.Lock()
	defer l.Unlock()
	deb, err := findDeb(debDir, step.DebPackage, step.DebVersion, arch)
	if err != nil {
		if deb, err = pb.download(ctx, debDir, spec, step, arch); err != nil {
			return err
		}
	}
	return extractFromDeb(ctx, deb, step.DebPath, dst)
}

// aptDownload runs apt-get download in dir (a variable for tests).
var aptDownload = func(ctx context.Context, dir, spec string) ([]byte, error) {
	cmd := osexec.CommandContext(ctx, "apt-get", "download", spec)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

// download fetches the .deb into a private temporary directory and renames
// it into debDir, so that another imgraph process sharing the cache never
// finds a half-written .deb, and two downloads of the same file do not
// write into one another.
func (pb *Prebuilder) download(ctx context.Context, debDir, spec string, step load.Prebuild, arch string) (string, error) {
	tmpDir, err := os.MkdirTemp(debDir, ".download-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmpDir)
	// apt-get drops to the _apt user to download when it can write there.
	os.Chmod(tmpDir, 0o755)
	if outb, err := aptDownload(ctx, tmpDir, spec); err != nil {
		return "", fmt.Errorf("apt-get download %s: %v: %s (is the %s architecture enabled? hack/local-stack.sh up runs dpkg --add-architecture and apt-get update)", spec, err, strings.TrimSpace(string(outb)), arch)
	}
	got, err := findDeb(tmpDir, step.DebPackage, step.DebVersion, arch)
	if err != nil {
		return "", fmt.Errorf("apt-get download %s: %w", spec, err)
	}
	deb := filepath.Join(debDir, filepath.Base(got))
	if err := os.Rename(got, deb); err != nil {
		return "", err
	}
	return deb, nil
}

// extractFromDeb copies the regular file debPath out of deb's data to dst.
func extractFromDeb(ctx context.Context, deb, debPath, dst string) (err error) {
	cmd := osexec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dpkg-deb: %w", err)
	}
	defer func() {
		// Drain what is left, or dpkg-deb blocks writing to a full pipe
		// and Wait never returns (an early return below: not a regular
		// file, a write error).
		io.Copy(io.Discard, stdout)
		if werr := cmd.Wait(); werr != nil {
			// dpkg-deb failing is the cause of whatever the tar reader saw.
			err = fmt.Errorf("dpkg-deb --fsys-tarfile %s: %v: %s", deb, werr, strings.TrimSpace(stderr.String()))
		}
	}()
	want := strings.TrimPrefix(path.Clean("/"+debPath), "/")
	tr := tar.NewReader(stdout)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s has no file %s", filepath.Base(deb), debPath)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", deb, err)
		}
		if strings.TrimPrefix(path.Clean("/"+h.Name), "/") != want {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s in %s is not a regular file", debPath, filepath.Base(deb))
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode)&0o777)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}

func findDeb(dir, pkg, version, arch string) (string, error) {
	v := "*"
	if version != "" {
		v = strings.ReplaceAll(version, ":", "%3a")
	}
	matches, _ := filepath.Glob(filepath.Join(dir, pkg+"_"+v+"_"+arch+".deb"))
	if len(matches) == 0 {
		return "", fmt.Errorf("no .deb for %s:%s in %s", pkg, arch, dir)
	}
	return matches[len(matches)-1], nil
}
