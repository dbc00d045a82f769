package vcs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TreeFS is a read-only fs.FS over the tree of one commit, rooted at the
// Repo's prefix. The listing comes from one `git ls-tree`; file contents
// are read on demand through the Repo's long-lived `git cat-file --batch`.
// It implements fs.ReadDirFS, fs.StatFS, fs.ReadFileFS and fs.ReadLinkFS.
type TreeFS struct {
	repo   *Repo
	commit string
	when   time.Time
	files  map[string]*treeEntry    // regular files, symlinks, submodules
	dirs   map[string][]fs.DirEntry // sorted entries of each directory ("." is the root)
}

type treeEntry struct {
	name string // base name
	mode fs.FileMode
	oid  string
	size int64
}

// TreeFS lists commit (a resolved id, see Resolve) and returns its tree.
func (r *Repo) TreeFS(ctx context.Context, commit string) (*TreeFS, error) {
	out, err := git(ctx, r.Top, "ls-tree", "-r", "-z", "-l", "--full-tree", commit)
	if err != nil {
		return nil, fmt.Errorf("list tree of %s: %w", short(commit), err)
	}
	t := &TreeFS{repo: r, commit: commit, files: map[string]*treeEntry{}, dirs: map[string][]fs.DirEntry{".": nil}}
	if ts, err := git(ctx, r.Top, "show", "-s", "--format=%ct", commit); err == nil {
		if sec, err := strconv.ParseInt(strings.TrimSpace(string(ts)), 10, 64); err == nil {
			t.when = time.Unix(sec, 0)
		}
	}
	prefix := ""
	if r.Prefix != "" {
		prefix = r.Prefix + "/"
	}
	for len(out) > 0 {
		i := bytes.IndexByte(out, 0)
		if i < 0 {
			i = len(out)
		}
		rec := string(out[:i])
		out = out[min(i+1, len(out)):]
		meta, name, ok := strings.Cut(rec, "\t")
		if !ok || !strings.HasPrefix(name, prefix) {
			continue
		}
		name = strings.TrimPrefix(name, prefix)
		f := strings.Fields(meta) // mode type oid size
		if len(f) != 4 {
			return nil, fmt.Errorf("list tree of %s: unexpected line %q", short(commit), rec)
		}
		e := &treeEntry{name: path.Base(name), oid: f[2]}
		e.size, _ = strconv.ParseInt(f[3], 10, 64) // "-" for submodules
		switch f[0] {
		case "100755":
			e.mode = 0o755
		case "120000":
			e.mode = fs.ModeSymlink | 0o777
		case "160000":
			e.mode = fs.ModeDir | 0o755 // a submodule: an empty directory
		default:
			e.mode = 0o644
		}
		t.files[name] = e
		t.addDirs(name)
	}
	for d, ents := range t.dirs {
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
		t.dirs[d] = ents
	}
	return t, nil
}

// addDirs records name in its parent directory, creating missing ancestors.
func (t *TreeFS) addDirs(name string) {
	for child := name; child != "."; {
		parent := path.Dir(child)
		_, known := t.dirs[parent]
		t.dirs[parent] = append(t.dirs[parent], dirEntry{t, child})
		if known {
			return
		}
		child = parent
	}
}

// Commit is the commit id the tree belongs to.
func (t *TreeFS) Commit() string { return t.commit }

// BlobID returns the git object id of a regular file or symlink: two
// files with the same id have the same content.
func (t *TreeFS) BlobID(name string) (string, bool) {
	e, ok := t.files[name]
	if !ok || e.mode.IsDir() {
		return "", false
	}
	return e.oid, true
}

func (t *TreeFS) stat(op, name string) (fs.FileInfo, *treeEntry, error) {
	if !fs.ValidPath(name) {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if e, ok := t.files[name]; ok {
		return fileInfo{e, t.when}, e, nil
	}
	if _, ok := t.dirs[name]; ok {
		return fileInfo{&treeEntry{name: path.Base(name), mode: fs.ModeDir | 0o755}, t.when}, nil, nil
	}
	return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// resolve follows symlinks (in the last component and in parents) inside
// the tree; links that leave it do not exist here.
func (t *TreeFS) resolve(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	parts := strings.Split(name, "/")
	cur := "."
	for hops := 0; len(parts) > 0; {
		comp := parts[0]
		parts = parts[1:]
		if comp == "." || comp == "" {
			continue
		}
		next := path.Join(cur, comp)
		e, ok := t.files[next]
		if !ok || e.mode&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", &fs.PathError{Op: op, Path: name, Err: errors.New("too many levels of symbolic links")}
		}
		target, err := t.ReadLink(next)
		if err != nil {
			return "", err
		}
		resolved := path.Clean(path.Join(path.Dir(next), target))
		if path.IsAbs(target) || resolved == ".." || strings.HasPrefix(resolved, "../") {
			return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		parts = append(strings.Split(resolved, "/"), parts...)
		cur = "."
	}
	return cur, nil
}

// Stat follows symlinks.
func (t *TreeFS) Stat(name string) (fs.FileInfo, error) {
	p, err := t.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	fi, _, err := t.stat("stat", p)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return renamed{fi, path.Base(name)}, nil
}

// Lstat does not follow a final symlink.
func (t *TreeFS) Lstat(name string) (fs.FileInfo, error) {
	fi, _, err := t.stat("lstat", name)
	return fi, err
}

// ReadLink returns a symlink's target.
func (t *TreeFS) ReadLink(name string) (string, error) {
	_, e, err := t.stat("readlink", name)
	if err != nil {
		return "", err
	}
	if e == nil || e.mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	data, err := t.repo.blob(e.oid)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(data), nil
}

// ReadDir lists a directory, sorted by name.
func (t *TreeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := t.resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	ents, ok := t.dirs[p]
	if !ok {
		if e, isFile := t.files[p]; isFile && e.mode.IsDir() {
			return nil, nil // submodule
		}
		if _, isFile := t.files[p]; isFile {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
		}
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	return append([]fs.DirEntry(nil), ents...), nil
}

// ReadFile returns a file's content, following symlinks.
func (t *TreeFS) ReadFile(name string) ([]byte, error) {
	p, err := t.resolve("read", name)
	if err != nil {
		return nil, err
	}
	_, e, err := t.stat("read", p)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	if e == nil || e.mode.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	data, err := t.repo.blob(e.oid)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

// Open opens a file or directory; file contents are fetched on first read.
func (t *TreeFS) Open(name string) (fs.File, error) {
	p, err := t.resolve("open", name)
	if err != nil {
		return nil, err
	}
	fi, e, err := t.stat("open", p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	fi = renamed{fi, path.Base(name)}
	if fi.IsDir() {
		ents, _ := t.ReadDir(p)
		return &dirFile{fi: fi, ents: ents}, nil
	}
	return &file{t: t, e: e, fi: fi}, nil
}

type file struct {
	t    *TreeFS
	e    *treeEntry
	fi   fs.FileInfo
	r    *bytes.Reader
	err  error
	done bool
}

func (f *file) Stat() (fs.FileInfo, error) { return f.fi, nil }
func (f *file) Close() error               { return nil }
func (f *file) Read(p []byte) (int, error) {
	if !f.done {
		f.done = true
		var data []byte
		data, f.err = f.t.repo.blob(f.e.oid)
		f.r = bytes.NewReader(data)
	}
	if f.err != nil {
		return 0, f.err
	}
	return f.r.Read(p)
}

type dirFile struct {
	fi   fs.FileInfo
	ents []fs.DirEntry
	off  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.fi, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.fi.Name(), Err: errors.New("is a directory")}
}
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.off:]
	if n <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}

type fileInfo struct {
	e    *treeEntry
	when time.Time
}

func (fi fileInfo) Name() string       { return fi.e.name }
func (fi fileInfo) Size() int64        { return max(fi.e.size, 0) }
func (fi fileInfo) Mode() fs.FileMode  { return fi.e.mode }
func (fi fileInfo) ModTime() time.Time { return fi.when }
func (fi fileInfo) IsDir() bool        { return fi.e.mode.IsDir() }
func (fi fileInfo) Sys() any           { return nil }

type renamed struct {
	fs.FileInfo
	name string
}

func (r renamed) Name() string { return r.name }

type dirEntry struct {
	t    *TreeFS
	path string
}

func (d dirEntry) Name() string { return path.Base(d.path) }
func (d dirEntry) IsDir() bool  { return d.Type().IsDir() }
func (d dirEntry) Type() fs.FileMode {
	if e, ok := d.t.files[d.path]; ok {
		return e.mode.Type()
	}
	return fs.ModeDir
}
func (d dirEntry) Info() (fs.FileInfo, error) {
	fi, _, err := d.t.stat("stat", d.path)
	return fi, err
}

// catFile is one `git cat-file --batch` process; requests are serialized.
type catFile struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	err error
}

// blob reads one object through the shared cat-file process, starting it
// on first use.
func (r *Repo) blob(oid string) ([]byte, error) {
	r.catOnce.Do(func() {
		c := &catFile{}
		c.cmd = exec.Command("git", "cat-file", "--batch")
		c.cmd.Dir = r.Top
		c.cmd.Env = append(c.cmd.Environ(), "GIT_OPTIONAL_LOCKS=0")
		var err error
		if c.in, err = c.cmd.StdinPipe(); err == nil {
			var out io.ReadCloser
			if out, err = c.cmd.StdoutPipe(); err == nil {
				c.out = bufio.NewReaderSize(out, 64<<10)
				err = c.cmd.Start()
			}
		}
		if err != nil {
			c.err = fmt.Errorf("start git cat-file: %w", err)
		}
		r.cat = c
	})
	c := r.cat
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	if _, err := io.WriteString(c.in, oid+"\n"); err != nil {
		c.err = fmt.Errorf("git cat-file: %w", err)
		return nil, c.err
	}
	hdr, err := c.out.ReadString('\n')
	if err != nil {
		c.err = fmt.Errorf("git cat-file: %w", err)
		return nil, c.err
	}
	f := strings.Fields(hdr)
	if len(f) != 3 {
		return nil, fmt.Errorf("git cat-file %s: %s", oid, strings.TrimSpace(hdr))
	}
	size, err := strconv.Atoi(f[2])
	if err != nil {
		return nil, fmt.Errorf("git cat-file %s: bad header %q", oid, hdr)
	}
	data := make([]byte, size+1) // content plus the trailing newline
	if _, err := io.ReadFull(c.out, data); err != nil {
		c.err = fmt.Errorf("git cat-file: %w", err)
		return nil, c.err
	}
	return data[:size], nil
}

// Close stops the cat-file process, if one was started.
func (r *Repo) Close() error {
	if r.cat == nil || r.cat.cmd == nil || r.cat.cmd.Process == nil {
		return nil
	}
	r.cat.mu.Lock()
	defer r.cat.mu.Unlock()
	r.cat.in.Close()
	err := r.cat.cmd.Wait()
	r.cat.err = errors.New("repository closed")
	return err
}

// HasSymlinks reports whether the tree holds any symbolic link.
func (t *TreeFS) HasSymlinks() bool {
	for _, e := range t.files {
		if e.mode&fs.ModeSymlink != 0 {
			return true
		}
	}
	return false
}
