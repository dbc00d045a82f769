package docker

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// dockerfileName is where the Dockerfile goes in the context tar. A fixed
// generated name works whether or not the Dockerfile lives inside the
// context and whatever .dockerignore says about it.
const dockerfileName = ".imgraph.Dockerfile"

// ignorePatterns reads <Dockerfile>.dockerignore if it exists (as BuildKit
// does), else <context>/.dockerignore, so both executors see one context.
func ignorePatterns(dockerfile, contextDir string) ([]string, error) {
	for _, p := range []string{dockerfile + ".dockerignore", filepath.Join(contextDir, ".dockerignore")} {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		pats, err := ignorefile.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		return pats, nil
	}
	return nil, nil
}

// contextTar streams the build context: contextDir minus .dockerignore
// matches, then the extra files at the root (they replace context files of
// the same name), then the Dockerfile under dockerfileName. The tar is
// produced while the daemon reads it; nothing is held in memory.
func contextTar(ctx context.Context, contextDir, dockerfile string, extra map[string]string) (io.ReadCloser, error) {
	pats, err := ignorePatterns(dockerfile, contextDir)
	if err != nil {
		return nil, err
	}
	pm, err := patternmatcher.New(pats)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore for %s: %w", contextDir, err)
	}
	// Fail before streaming if an input is missing: an error mid-stream
	// reaches the user as a truncated-tar message from the daemon.
	if _, err := os.Stat(dockerfile); err != nil {
		return nil, fmt.Errorf("dockerfile: %w", err)
	}
	if fi, err := os.Stat(contextDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("context directory %s: not a directory (%v)", contextDir, err)
	}
	names := make([]string, 0, len(extra))
	replaced := map[string]bool{}
	for name, src := range extra {
		clean := path.Clean(filepath.ToSlash(name))
		if clean == "." || strings.HasPrefix(clean, "../") || path.IsAbs(clean) {
			return nil, fmt.Errorf("extra file name %q must be a relative path inside the context", name)
		}
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("extra file %s: %w", name, err)
		}
		names = append(names, name)
		replaced[clean] = true
	}
	sort.Strings(names)

	pr, pw := io.Pipe()
	go func() {
		// Buffered: each pipe write is a hand-off to the reading goroutine.
		bw := bufio.NewWriterSize(pw, 256<<10)
		tw := &tarWriter{Writer: tar.NewWriter(bw), buf: make([]byte, 64<<10)}
		err := writeContext(ctx, tw, contextDir, pm, replaced)
		for _, name := range names {
			if err != nil {
				break
			}
			err = tw.addPath(extra[name], path.Clean(filepath.ToSlash(name)))
		}
		if err == nil {
			err = tw.addPath(dockerfile, dockerfileName)
		}
		if err == nil {
			err = tw.Close()
		}
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// tarWriter reuses one copy buffer for every file (io.Copy would allocate
// one per file).
type tarWriter struct {
	*tar.Writer
	buf []byte
}

func writeContext(ctx context.Context, tw *tarWriter, root string, pm *patternmatcher.PatternMatcher, replaced map[string]bool) error {
	parents := map[string]patternmatcher.MatchInfo{}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		// .dockerignore is applied here; leaving it out keeps the classic
		// builder from applying it again to the extra files.
		if rel == ".dockerignore" || rel == dockerfileName || replaced[rel] {
			return nil
		}
		matched, info, err := pm.MatchesUsingParentResults(rel, parents[path.Dir(rel)])
		if err != nil {
			return fmt.Errorf(".dockerignore match %s: %w", rel, err)
		}
		if d.IsDir() {
			parents[rel] = info
			if matched && !pm.Exclusions() {
				return filepath.SkipDir
			}
		}
		if matched {
			return nil
		}
		return tw.addEntry(p, rel, false)
	})
}

// addPath adds src (a file or a whole directory, symlinks followed at the
// top) under name.
func (tw *tarWriter) addPath(src, name string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return tw.addEntry(src, name, true)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		return tw.addEntry(p, path.Join(name, filepath.ToSlash(rel)), p == src)
	})
}

func (tw *tarWriter) addEntry(src, name string, follow bool) error {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(src)
	if err != nil {
		return err
	}
	if fi.Mode()&(fs.ModeSocket|fs.ModeNamedPipe|fs.ModeDevice) != 0 {
		return nil // not build content; tar cannot carry sockets anyway
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(src); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("tar %s: %w", src, err)
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	// Owner and access times are host details, not image content.
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("tar %s: %w", src, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	// Hiding WriterTo makes CopyBuffer use tw.buf.
	if _, err := io.CopyBuffer(tw.Writer, struct{ io.Reader }{f}, tw.buf); err != nil {
		return fmt.Errorf("tar %s: %w", src, err)
	}
	return nil
}
