package hash

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// fileStat is what the walker and the stat cache need to know about a path.
// cacheable is false when the source cannot give inode and ctime (an fs.FS
// without a root): such files are always read.
type fileStat struct {
	mode      fs.FileMode
	size      int64
	mtime     int64 // ns since the epoch
	ctime     int64 // ns since the epoch
	ino       uint64
	cacheable bool
}

type dirent struct {
	name string
	st   fileStat
}

// source is the tree being hashed: the real file system below a root (fast
// stat calls, inode and ctime for the stat cache) or any fs.FS (a git
// revision). All paths are slash-separated and root-relative, "." for the
// root; none of the methods follows a symlink in the last component.
type source interface {
	// readDir lists dir sorted by name, with lstat information per entry.
	readDir(dir string) ([]dirent, error)
	lstat(p string) (fileStat, error)
	readlink(p string) (string, error)
	open(p string) (io.ReadCloser, error)
}

// fsSource reads an fs.FS.
type fsSource struct{ fsys fs.FS }

func (s fsSource) readDir(dir string) ([]dirent, error) {
	ents, err := fs.ReadDir(s.fsys, dir)
	if err != nil {
		return nil, err
	}
	out := make([]dirent, 0, len(ents))
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, dirent{name: e.Name(), st: statOf(fi)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (s fsSource) lstat(p string) (fileStat, error) {
	var fi fs.FileInfo
	var err error
	if rl, ok := s.fsys.(fs.ReadLinkFS); ok {
		fi, err = rl.Lstat(p)
	} else {
		fi, err = fs.Stat(s.fsys, p)
	}
	if err != nil {
		return fileStat{}, err
	}
	return statOf(fi), nil
}

func (s fsSource) readlink(p string) (string, error) { return fs.ReadLink(s.fsys, p) }

func (s fsSource) open(p string) (io.ReadCloser, error) { return s.fsys.Open(p) }

func statOf(fi fs.FileInfo) fileStat {
	return fileStat{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// resolveInside follows symlinks in p component by component within src
// and fails when one of them leads outside the tree. It returns the
// resolved, symlink-free path.
func resolveInside(src source, p string) (string, error) {
	parts := strings.Split(path.Clean(p), "/")
	cur := "."
	for hops := 0; len(parts) > 0; {
		comp := parts[0]
		parts = parts[1:]
		if comp == "" || comp == "." {
			continue
		}
		next := path.Join(cur, comp)
		if escapes(next) {
			return "", fmt.Errorf("%s escapes the workspace", p)
		}
		st, err := src.lstat(next)
		if err != nil {
			return "", err
		}
		if st.mode&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := src.readlink(next)
		if err != nil {
			if errors.Is(err, errors.ErrUnsupported) {
				return "", fmt.Errorf("%s is a symlink and the tree cannot read links", next)
			}
			return "", err
		}
		resolved := path.Clean(path.Join(cur, target))
		if path.IsAbs(target) || escapes(resolved) {
			return "", fmt.Errorf("%s is a symlink to %s, outside the workspace", next, target)
		}
		parts = append(strings.Split(resolved, "/"), parts...)
		cur = "."
	}
	return cur, nil
}

func escapes(p string) bool {
	return p == ".." || strings.HasPrefix(p, "../") || path.IsAbs(p)
}
