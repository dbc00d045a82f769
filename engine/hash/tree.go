package hash

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
)

// entry is one path of a build context, as BuildKit would send it.
type entry struct {
	rel  string      // relative to the context directory
	mode fs.FileMode // type and permission bits
	link string      // symlink target
	sum  [32]byte    // regular files answered by the stat cache
	file *fileTask   // other regular files: hashed after the walk
}

// join is path.Join for a clean dir and a clean relative path.
func join(dir, rel string) string {
	if dir == "." {
		return rel
	}
	return dir + "/" + rel
}

// tree is one build context after .dockerignore: hashed once however many
// nodes and platforms share it.
type tree struct {
	dir      string   // root-relative, symlinks resolved
	excludes []string // .dockerignore patterns
	entries  []entry
	once     sync.Once
	sum      [32]byte // digest(), once the files are hashed
}

// walk lists the context the way BuildKit's fsutil filter does with
// .dockerignore patterns as ExcludePatterns: an excluded path is left out;
// an excluded directory is not descended into unless an exception ("!")
// pattern could re-include something below it, and then it appears only
// when something below it does. Symlinks are recorded, never followed.
func (h *Hasher) walk(t *tree) error {
	var pm *patternmatcher.PatternMatcher
	prefixExceptions := true
	if len(t.excludes) > 0 {
		var err error
		// A matcher per walk: MatchesUsingParentResults is not safe for
		// concurrent use.
		if pm, err = patternmatcher.New(t.excludes); err != nil {
			return fmt.Errorf("bad .dockerignore pattern: %w", err)
		}
		for _, p := range pm.Patterns() {
			if p.Exclusion() && strings.ContainsAny(withoutTrailingGlob(p), `*[]?^\`) {
				prefixExceptions = false
			}
		}
	}
	type pending struct {
		e       entry
		emitted bool
	}
	var parents []*pending // excluded dirs walked for exceptions, not yet emitted
	// emit adds e, first adding the excluded directories above it that
	// it brings back (parents[:depth] are e's ancestors).
	emit := func(e entry, depth int) {
		for _, p := range parents[:depth] {
			if !p.emitted {
				p.emitted = true
				t.entries = append(t.entries, p.e)
			}
		}
		t.entries = append(t.entries, e)
	}
	var visit func(dir string, info patternmatcher.MatchInfo, depth int) error
	visit = func(dir string, info patternmatcher.MatchInfo, depth int) error {
		ents, err := h.src.readDir(path.Join(t.dir, dir))
		if err != nil {
			return err
		}
		for _, d := range ents {
			rel := d.name
			if dir != "." {
				rel = dir + "/" + d.name
			}
			isDir := d.st.mode.IsDir()
			excluded := false
			var childInfo patternmatcher.MatchInfo
			if pm != nil {
				if excluded, childInfo, err = pm.MatchesUsingParentResults(rel, info); err != nil {
					return fmt.Errorf("match .dockerignore: %w", err)
				}
			}
			e := entry{rel: rel, mode: d.st.mode}
			if excluded {
				if !isDir || (prefixExceptions && !exceptionBelow(pm, rel)) {
					continue
				}
				parents = append(parents[:depth], &pending{e: e})
				if err := visit(rel, childInfo, depth+1); err != nil {
					return err
				}
				continue
			}
			switch {
			case isDir:
				emit(e, depth)
				parents = append(parents[:depth], &pending{e: e, emitted: true})
				if err := visit(rel, childInfo, depth+1); err != nil {
					return err
				}
			case d.st.mode&fs.ModeSymlink != 0:
				if e.link, err = h.src.readlink(join(t.dir, rel)); err != nil {
					return err
				}
				emit(e, depth)
			case d.st.mode.IsRegular():
				// Cache hits skip the shared file table: no lock, no
				// allocation on the warm path.
				full, st := join(t.dir, rel), d.st
				if h.statHook != nil {
					h.statHook(full, &st)
				}
				if sum, ok := h.cached(full, st); ok {
					e.sum = sum
				} else {
					e.file = h.file(full, st)
				}
				emit(e, depth)
			default:
				emit(e, depth) // devices, fifos, sockets: their mode is all there is
			}
		}
		return nil
	}
	return visit(".", patternmatcher.MatchInfo{}, 0)
}

// exceptionBelow reports whether an exception pattern could match
// something inside the excluded directory dir.
func exceptionBelow(pm *patternmatcher.PatternMatcher, dir string) bool {
	if !pm.Exclusions() {
		return false
	}
	for _, p := range pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(withoutTrailingGlob(p)+"/", dir+"/") {
			return true
		}
	}
	return false
}

func withoutTrailingGlob(p *patternmatcher.Pattern) string {
	s := p.String()
	s = strings.TrimSuffix(s, "/**")
	return strings.TrimSuffix(s, "/*")
}

// digest of the context: every entry's path, mode and content (a file's
// sha256, a symlink's target), length-prefixed so no two trees collide.
func (t *tree) digest() [32]byte {
	t.once.Do(t.computeDigest)
	return t.sum
}

func (t *tree) computeDigest() {
	hs := sha256.New()
	var buf []byte
	for _, e := range t.entries {
		if path.Base(e.rel) == "IMAGE.star" {
			// The declaration is hashed in resolved form; a comment or
			// formatting edit of IMAGE.star must not rebuild the image.
			continue
		}
		buf = buf[:0]
		buf = binary.AppendUvarint(buf, uint64(len(e.rel)))
		buf = append(buf, e.rel...)
		buf = binary.AppendUvarint(buf, uint64(gitMode(e.mode)))
		switch {
		case e.mode.IsRegular():
			buf = append(buf, 'f')
			if e.file != nil {
				buf = append(buf, e.file.sum[:]...)
			} else {
				buf = append(buf, e.sum[:]...)
			}
		case e.mode&fs.ModeSymlink != 0:
			buf = append(buf, 'l')
			buf = binary.AppendUvarint(buf, uint64(len(e.link)))
			buf = append(buf, e.link...)
		default:
			buf = append(buf, 'd')
		}
		hs.Write(buf)
	}
	hs.Sum(t.sum[:0])
}

// gitMode keeps only what git records of a mode (type, and for regular
// files the executable bit), so a digest is the same on every checkout
// whatever the umask, and the same read from a git revision.
func gitMode(m fs.FileMode) fs.FileMode {
	switch {
	case m.IsDir():
		return fs.ModeDir | 0o755
	case m&fs.ModeSymlink != 0:
		return fs.ModeSymlink | 0o777
	case m.IsRegular() && m&0o100 != 0:
		return 0o755
	case m.IsRegular():
		return 0o644
	}
	return m
}
