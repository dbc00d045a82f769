package hash

import (
	"io"
	"io/fs"
	"sort"

	"github.com/imgraph/imgraph/internal/pathsafe"
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

// resolveInside follows symlinks in p within src without leaving the tree.
func resolveInside(src source, p string) (string, error) {
	return pathsafe.Resolve(p,
		func(n string) (fs.FileMode, error) {
			st, err := src.lstat(n)
			return st.mode, err
		},
		src.readlink)
}

// escapes reports whether a cleaned relative path leaves the workspace.
func escapes(p string) bool { return pathsafe.Escapes(p) }
