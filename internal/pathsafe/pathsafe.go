// Package pathsafe resolves workspace-relative paths through symlinks
// without ever leaving the workspace; loading (declared paths) and hashing
// (context trees) both need it, over different file sources.
package pathsafe

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Escapes reports whether a cleaned relative path leaves its root.
func Escapes(p string) bool {
	return p == ".." || strings.HasPrefix(p, "../") || path.IsAbs(p)
}

// Resolve follows symlinks in p component by component, using lstat and
// readlink of the caller's file source, and fails when one of them leads
// outside the root. It returns the resolved, symlink-free path ("." for
// the root itself).
func Resolve(p string, lstat func(string) (fs.FileMode, error), readlink func(string) (string, error)) (string, error) {
	parts := strings.Split(path.Clean(p), "/")
	cur := "."
	for hops := 0; len(parts) > 0; {
		comp := parts[0]
		parts = parts[1:]
		if comp == "" || comp == "." {
			continue
		}
		next := path.Join(cur, comp)
		if Escapes(next) {
			return "", fmt.Errorf("%s escapes the workspace", p)
		}
		mode, err := lstat(next)
		if err != nil {
			return "", err
		}
		if mode&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := readlink(next)
		if err != nil {
			if errors.Is(err, errors.ErrUnsupported) {
				return "", fmt.Errorf("%s is a symlink and the tree cannot read links", next)
			}
			return "", err
		}
		resolved := path.Clean(path.Join(cur, target))
		if path.IsAbs(target) || Escapes(resolved) {
			return "", fmt.Errorf("%s is a symlink to %s, outside the workspace", next, target)
		}
		parts = append(strings.Split(resolved, "/"), parts...)
		cur = "."
	}
	return cur, nil
}
