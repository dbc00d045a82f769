// Package legacy reads a Kubernetes-style test/images tree (VERSION,
// BASEIMAGE, ALIAS, Dockerfile[_windows], Makefile per image directory) and
// converts it into an imgraph workspace: WORKSPACE.star plus one IMAGE.star
// per image, reporting every dependency the old layout kept implicit.
package legacy

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/platform"
)

// Legacy file names.
const (
	versionFile       = "VERSION"
	baseImageFile     = "BASEIMAGE"
	aliasFile         = "ALIAS"
	dockerfile        = "Dockerfile"
	dockerfileWindows = "Dockerfile_windows"
	makefile          = "Makefile"
)

// defaultPlatforms are the platforms the legacy script builds when an image
// has no BASEIMAGE (linux/ + the keys of its QEMUARCHS table).
var defaultPlatforms = []string{"linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "linux/s390x"}

// legacyImage is one directory with a VERSION file.
type legacyImage struct {
	Dir        string // slash path relative to the legacy root: "volume/nfs"
	Label      label.Label
	Version    string
	Repository string // ALIAS, else Dir
	Aliased    bool
	// BASEIMAGE; nil Entries with HasBaseImage false means the defaults.
	HasBaseImage bool
	Entries      []baseEntry
	Files        map[string][]byte // Dockerfile, Dockerfile_windows, Makefile when present
}

// baseEntry is one BASEIMAGE line.
type baseEntry struct {
	Key      string
	Platform platform.Platform
	Value    string
	Line     int
}

func (img *legacyImage) file(name string) string { return path.Join(img.Dir, name) }

func (img *legacyImage) has(name string) bool { _, ok := img.Files[name]; return ok }

// scan lists every image directory below the root of fsys, sorted by path,
// and the non-image files at the top level (which nothing imports).
func scan(fsys fs.FS) (dirs []string, skipped []string, err error) {
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			if _, err := fs.Stat(fsys, path.Join(p, versionFile)); err == nil && p != "." {
				dirs = append(dirs, p)
			}
			return nil
		}
		if path.Dir(p) == "." {
			skipped = append(skipped, p)
		}
		return nil
	})
	sort.Strings(dirs)
	return dirs, skipped, err
}

// problem is an error about one image, positioned in a legacy file.
type problem struct {
	File string
	Line int
	Msg  string
}

func (p *problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return p.File + ": " + p.Msg
}

func problemf(file string, line int, format string, a ...any) *problem {
	return &problem{File: file, Line: line, Msg: fmt.Sprintf(format, a...)}
}

// readImage reads the legacy files of one image directory. Declaration
// errors are *problem; I/O errors are wrapped plainly.
func readImage(fsys fs.FS, dir string) (*legacyImage, error) {
	img := &legacyImage{Dir: dir, Files: map[string][]byte{}}
	lbl, err := label.Parse("//" + dir)
	if err != nil {
		return img, problemf(dir, 0, "directory name cannot be an image label: %v", err)
	}
	img.Label = lbl
	read := func(name string) ([]byte, bool, error) {
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", path.Join(dir, name), err)
		}
		return b, true, nil
	}
	v, _, err := read(versionFile)
	if err != nil {
		return img, err
	}
	img.Version = strings.TrimSpace(string(v))
	if img.Version == "" || strings.ContainsAny(img.Version, " \t\n:/@") {
		return img, problemf(img.file(versionFile), 1, "%q is not a usable tag (one line, no spaces, ':', '/' or '@')", img.Version)
	}
	a, ok, err := read(aliasFile)
	if err != nil {
		return img, err
	}
	img.Repository = dir
	if ok {
		if alias := strings.TrimSpace(string(a)); alias != "" {
			img.Repository, img.Aliased = alias, true
		}
	}
	for _, name := range []string{dockerfile, dockerfileWindows, makefile} {
		b, ok, err := read(name)
		if err != nil {
			return img, err
		}
		if ok {
			img.Files[name] = b
		}
	}
	b, ok, err := read(baseImageFile)
	if err != nil {
		return img, err
	}
	if ok {
		img.HasBaseImage = true
		if img.Entries, err = parseBaseImage(img.file(baseImageFile), b); err != nil {
			return img, err
		}
	}
	return img, nil
}

// parseBaseImage reads os/arch[/os_version]=IMAGE lines. A missing final
// newline is fine; blank lines and # comments are skipped.
func parseBaseImage(file string, b []byte) ([]baseEntry, error) {
	var out []baseEntry
	seen := map[string]int{}
	for i, line := range strings.Split(string(b), "\n") {
		n := i + 1
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" {
			return nil, problemf(file, n, "%q is not os/arch[/os_version]=IMAGE", line)
		}
		if !strings.Contains(key, "/") {
			return nil, problemf(file, n, "arch-only key %q: the legacy scripts require os/arch keys (write linux/%s=%s)", key, key, value)
		}
		p, err := platform.Parse(key)
		if err != nil {
			return nil, problemf(file, n, "%v", err)
		}
		if p.String() != key {
			return nil, problemf(file, n, "key %q: write it as %q", key, p.String())
		}
		if prev, dup := seen[key]; dup {
			return nil, problemf(file, n, "%s listed twice (first on line %d)", key, prev)
		}
		seen[key] = n
		if value == "" {
			return nil, problemf(file, n, "%s has no image after '='", key)
		}
		out = append(out, baseEntry{Key: key, Platform: p, Value: value, Line: n})
	}
	if len(out) == 0 {
		return nil, problemf(file, 0, "no os/arch=IMAGE line; delete the file to build the default platforms")
	}
	return out, nil
}
