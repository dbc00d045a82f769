//go:build !linux

package hash

import "os"

// newOSSource on systems other than Linux reads through os.DirFS: no inode
// or ctime, so the stat cache is not used there.
func newOSSource(root string) source { return fsSource{fsys: os.DirFS(root)} }
