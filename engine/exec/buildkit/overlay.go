package buildkit

import (
	"context"
	"fmt"
	"io"
	gofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tonistiigi/fsutil"
	"github.com/tonistiigi/fsutil/types"
)

// overlayFS adds files at the root of a context (prebuild outputs) without
// copying the context: the walk is the base walk with the extra names
// merged in lexical order, which the filesync protocol requires.
type overlayFS struct {
	base  fsutil.FS
	names []string          // sorted
	files map[string]string // name → host path
}

func newOverlay(base fsutil.FS, extra map[string]string) (fsutil.FS, error) {
	if len(extra) == 0 {
		return base, nil
	}
	o := &overlayFS{base: base, files: extra}
	for n := range extra {
		if strings.Contains(n, "/") {
			return nil, fmt.Errorf("prebuild output %q: must be a file name at the context root", n)
		}
		o.names = append(o.names, n)
	}
	sort.Strings(o.names)
	return o, nil
}

func (o *overlayFS) entry(name string) (gofs.DirEntry, error) {
	fi, err := os.Stat(o.files[name])
	if err != nil {
		return nil, err
	}
	st := &types.Stat{Path: name, Mode: uint32(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	return &fsutil.DirEntryInfo{Stat: st}, nil
}

func (o *overlayFS) Walk(ctx context.Context, target string, fn gofs.WalkDirFunc) error {
	// fsutil's sender walks from "/" (filepath.Separator): that is the root.
	target = strings.Trim(filepath.ToSlash(target), "/")
	if target == "." {
		target = ""
	}
	if target != "" {
		if _, ok := o.files[target]; ok {
			e, err := o.entry(target)
			return fn(target, e, err)
		}
		return o.base.Walk(ctx, target, fn)
	}
	next := 0
	flush := func(before string) error {
		for next < len(o.names) && (before == "" || o.names[next] < before) {
			n := o.names[next]
			next++
			e, err := o.entry(n)
			if err := fn(n, e, err); err != nil {
				return err
			}
		}
		return nil
	}
	err := o.base.Walk(ctx, target, func(p string, d gofs.DirEntry, err error) error {
		if err != nil {
			return fn(p, d, err)
		}
		if !strings.Contains(p, "/") {
			if err := flush(p); err != nil {
				return err
			}
			if _, ok := o.files[p]; ok {
				if next < len(o.names) && o.names[next] == p {
					next++
					e, err := o.entry(p)
					if err := fn(p, e, err); err != nil {
						return err
					}
				}
				if d.IsDir() {
					return gofs.SkipDir
				}
				return nil // the prebuild output replaces the context file
			}
		}
		return fn(p, d, nil)
	})
	if err != nil {
		return err
	}
	return flush("")
}

func (o *overlayFS) Open(p string) (io.ReadCloser, error) {
	if hp, ok := o.files[p]; ok {
		return os.Open(hp)
	}
	return o.base.Open(p)
}
