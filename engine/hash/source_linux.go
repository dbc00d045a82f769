package hash

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// osSource reads the real file system below root. Entries are stat'ed with
// fstatat relative to their directory, which saves the kernel a path walk
// per file: the warm (all cached) case is nothing but these calls.
type osSource struct{ root string }

func newOSSource(root string) source { return osSource{root: root} }

func (s osSource) abs(p string) string { return filepath.Join(s.root, filepath.FromSlash(p)) }

func (s osSource) readDir(dir string) ([]dirent, error) {
	// Raw open/getdents/fstatat/close: os.File adds a poller registration
	// and a DirEntry per name, measurable at 50,000 files.
	p := s.abs(dir)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	var names []string
	buf := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(buf)
	for {
		n, err := unix.Getdents(fd, *buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: p, Err: err}
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent((*buf)[:n], -1, names)
	}
	sort.Strings(names)
	out := make([]dirent, 0, len(names))
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue // removed while we walked; it is not in the tree
			}
			return nil, &fs.PathError{Op: "lstat", Path: p + "/" + name, Err: err}
		}
		out = append(out, dirent{name: name, st: fromStatT(&st)})
	}
	return out, nil
}

var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (s osSource) lstat(p string) (fileStat, error) {
	var st unix.Stat_t
	if err := unix.Lstat(s.abs(p), &st); err != nil {
		return fileStat{}, &fs.PathError{Op: "lstat", Path: s.abs(p), Err: err}
	}
	return fromStatT(&st), nil
}

func (s osSource) readlink(p string) (string, error) { return os.Readlink(s.abs(p)) }

func (s osSource) open(p string) (io.ReadCloser, error) { return os.Open(s.abs(p)) }

func fromStatT(st *unix.Stat_t) fileStat {
	m := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return fileStat{
		mode:      m,
		size:      st.Size,
		mtime:     st.Mtim.Nano(),
		ctime:     st.Ctim.Nano(),
		ino:       st.Ino,
		cacheable: true,
	}
}

// hashFile writes the content of p to w with raw open/read/close: for the
// many small files of a build context the system calls are the cost, and
// os.File adds one (a poller registration) per file. O_NOFOLLOW: p was
// seen as a regular file; if it has become a symlink since, fail rather
// than follow it.
func (s osSource) hashFile(p string, w io.Writer, buf []byte) (int64, error) {
	abs := s.abs(p)
	fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(abs, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return 0, &fs.PathError{Op: "open", Path: abs, Err: err}
	}
	defer unix.Close(fd)
	var total int64
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, &fs.PathError{Op: "read", Path: abs, Err: err}
		}
		if n <= 0 {
			return total, nil
		}
		w.Write(buf[:n])
		total += int64(n)
		// A short read of a regular file means end of file: saves the
		// read that would return 0.
		if n < len(buf) {
			return total, nil
		}
	}
}
