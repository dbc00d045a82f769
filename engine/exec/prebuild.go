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
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		// A unique temporary name: two imgraph processes sharing the cache
		// may produce the same output at once; the rename makes either win.
		f, err := os.CreateTemp(dir, "."+step.Out+".tmp*")
		if err != nil {
			return nil, err
		}
		tmp := f.Name()
		f.Close()
		os.Remove(tmp) // only the unique name is wanted; the step creates the file with its own mode
		switch step.Kind {
		case "go_binary":
			err = pb.goBinary(ctx, step, p, tmp)
		case "deb_file":
			err = pb.debFile(ctx, step, p, tmp)
		default:
			err = fmt.Errorf("unknown prebuild kind %q", step.Kind)
		}
		if err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("%s %s for %s (%s): %w", step.Kind, step.Out, p, step.Pos, err)
		}
		if err := os.Rename(tmp, dst); err != nil {
			return nil, err
		}
	}
	return out, nil
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
		cmd := osexec.CommandContext(ctx, "apt-get", "download", spec)
		cmd.Dir = debDir
		outb, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get download %s: %v: %s (is the %s architecture enabled? hack/local-stack.sh up runs dpkg --add-architecture and apt-get update)", spec, err, strings.TrimSpace(string(outb)), arch)
		}
		if deb, err = findDeb(debDir, step.DebPackage, step.DebVersion, arch); err != nil {
			return err
		}
	}
	cmd := osexec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dpkg-deb: %w", err)
	}
	defer cmd.Wait()
	want := strings.TrimPrefix(path.Clean("/"+step.DebPath), "/")
	tr := tar.NewReader(stdout)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s has no file %s", filepath.Base(deb), step.DebPath)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", deb, err)
		}
		if strings.TrimPrefix(path.Clean("/"+h.Name), "/") != want {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s in %s is not a regular file", step.DebPath, filepath.Base(deb))
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode)&0o777)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		io.Copy(io.Discard, stdout)
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
