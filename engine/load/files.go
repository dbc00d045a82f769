package load

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/imgraph/imgraph/internal/pathsafe"
)

// dirFS is os.DirFS; kept as a function so tests can see the one place
// the real file system enters the loader.
func dirFS(root string) fs.FS { return os.DirFS(root) }

// resolveInside follows symlinks in p without leaving the workspace; a
// file system that cannot read links has none to follow.
func resolveInside(fsys fs.FS, p string) (string, error) {
	rl, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return p, nil
	}
	return pathsafe.Resolve(p,
		func(n string) (fs.FileMode, error) {
			fi, err := rl.Lstat(n)
			if err != nil {
				return 0, err
			}
			return fi.Mode(), nil
		},
		rl.ReadLink)
}

// glob lists files below dir (root-relative) matching include and not
// exclude; results are relative to dir and sorted.
func (l *loader) glob(pos Pos, dir string, include, exclude []string) ([]string, error) {
	for _, pat := range append(append([]string(nil), include...), exclude...) {
		clean := path.Clean(pat)
		if path.IsAbs(pat) || escapes(clean) || strings.Contains(pat, "/../") {
			return nil, Errorf(pos, "glob(): pattern %q escapes the image directory; patterns are relative to %s", pat, dir)
		}
		if _, err := path.Match(strings.ReplaceAll(pat, "**", "x"), ""); err != nil {
			return nil, Errorf(pos, "glob(): bad pattern %q: %v", pat, err)
		}
	}
	var out []string
	err := fs.WalkDir(l.fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if !matchAny(include, rel) || matchAny(exclude, rel) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if _, err := resolveInside(l.fsys, p); err != nil {
				return Errorf(pos, "glob(): %v", err)
			}
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, Errorf(pos, "glob(): %v", err)
	}
	sort.Strings(out)
	return out, nil
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if matchGlob(strings.Split(pat, "/"), strings.Split(p, "/")) {
			return true
		}
	}
	return false
}

// matchGlob matches path segments; "**" matches zero or more segments.
func matchGlob(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchGlob(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// moduleFiles returns go.mod and go.sum of the Go module holding dir.
func (l *loader) moduleFiles(dir string) []string {
	for d := dir; ; d = path.Dir(d) {
		mod := path.Join(d, "go.mod")
		if _, err := fs.Stat(l.fsys, mod); err == nil {
			out := []string{mod}
			if _, err := fs.Stat(l.fsys, path.Join(d, "go.sum")); err == nil {
				out = append(out, path.Join(d, "go.sum"))
			}
			return out
		}
		if d == "." || d == "/" || d == "" {
			return nil
		}
	}
}

var syntaxDirective = regexp.MustCompile(`(?i)^#\s*syntax\s*=`)

// checkDockerfile reads a Dockerfile and rejects a "# syntax=" directive,
// which would make BuildKit pull a frontend image from a registry.
func (l *loader) checkDockerfile(file string) error {
	data, err := fs.ReadFile(l.fsys, file)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" {
			continue
		}
		if !strings.HasPrefix(t, "#") {
			break // parser directives only precede the first instruction
		}
		if syntaxDirective.MatchString(t) {
			return Errorf(Pos{File: file, Line: line, Col: 1}, "%q: a syntax directive makes BuildKit pull a frontend image from a registry; imgraph builds with the built-in Dockerfile frontend, so remove this line", t)
		}
	}
	return nil
}

// validate checks one image's paths and platform coverage.
func (c *imageCollector) validate(img *Image, k *kw) error {
	ld := k // for positions
	loader := c.l
	checkPath := func(arg, rel string, wantDir bool) error {
		p := path.Clean(path.Join(img.Dir, rel))
		if path.IsAbs(rel) || escapes(p) {
			return argErr(ld.at(arg), "image", arg, "%q escapes the workspace; give a path relative to %s", rel, img.Dir)
		}
		if _, err := resolveInside(loader.fsys, p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return argErr(ld.at(arg), "image", arg, "%s does not exist", p)
			}
			return argErr(ld.at(arg), "image", arg, "%v", err)
		}
		fi, err := fs.Stat(loader.fsys, p)
		if err != nil {
			return argErr(ld.at(arg), "image", arg, "%s: %v", p, err)
		}
		if fi.IsDir() != wantDir {
			kind := "a file"
			if wantDir {
				kind = "a directory"
			}
			return argErr(ld.at(arg), "image", arg, "%s is not %s", p, kind)
		}
		return nil
	}
	if err := checkPath("context", img.Context, true); err != nil {
		return err
	}
	dockerfiles := []string{img.Dockerfile}
	if img.Windows != nil && img.Windows.Dockerfile != "" {
		dockerfiles = append(dockerfiles, img.Windows.Dockerfile)
	}
	for _, df := range dockerfiles {
		arg := "dockerfile"
		if err := checkPath(arg, df, false); err != nil {
			if df != img.Dockerfile {
				return Errorf(img.Windows.Pos, "windows(): dockerfile: %v", err.(*Error).Msg)
			}
			return err
		}
		if err := loader.checkDockerfile(path.Clean(path.Join(img.Dir, df))); err != nil {
			return err
		}
	}
	for _, p := range img.Platforms {
		if _, ok := img.Base.Resolve(p); !ok {
			return argErr(ld.at("base"), "image", "base", "no entry matches platform %s; add a %q key (or a broader one such as \"linux\")", p, p.String())
		}
	}
	if img.Windows != nil {
		spec := img.Windows.Base
		if !spec.Declared() {
			spec = img.Base
		}
		for _, p := range img.AllPlatforms()[len(img.Platforms):] {
			if _, ok := spec.Resolve(p); !ok {
				return Errorf(img.Windows.Pos, "no base for %s: add base to windows(...), or a \"windows\" key to the image's base dict", p)
			}
		}
	}
	for _, pb := range img.Prebuild {
		for _, src := range pb.Srcs {
			if _, err := resolveInside(loader.fsys, src); err != nil {
				return Errorf(pb.Pos, "%s(): srcs: %v", pb.Kind, err)
			}
		}
	}
	return nil
}
