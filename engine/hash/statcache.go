package hash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// The stat cache maps a root-relative path and its stat data (size, mtime,
// ctime, inode, mode) to the sha256 of its content, so that an unchanged
// tree is re-hashed with stat calls only.
//
// It must never hand back a stale digest. Any write to a file changes its
// ctime, and renames/replacements change the inode, so the key catches
// every change whose timestamp differs from the recorded one. What it
// cannot catch alone is a write in the same timestamp tick as the moment
// the content was read ("racy git"): mtime and ctime would not move. So
// every cache file records a reference time R: the file-system clock when
// the run that wrote it started, taken from the mtime of a file created
// before any tree was read. An entry is trusted only when its mtime and
// ctime are older than R minus racySlack. Writes after the content was
// read carry a timestamp >= R, so they always change the key; entries too
// close to R are re-read (and become trusted in a later run).
const (
	cacheMagic = "IMGSTAT1"
	// racySlack covers timestamp granularity coarser than the clock
	// (1-2 s on some file systems) and a cache file on another file system.
	racySlack = int64(2e9)
	// maxAge drops entries no run has used for this many cache writes
	// (deleted or renamed files).
	maxAge = 16
)

type statKey struct {
	size  int64
	mtime int64
	ctime int64
	ino   uint64
	mode  uint32
}

func keyOf(st fileStat) statKey {
	return statKey{size: st.size, mtime: st.mtime, ctime: st.ctime, ino: st.ino, mode: uint32(st.mode)}
}

type cacheEntry struct {
	key  statKey
	sum  [32]byte
	used atomic.Uint32 // generation that last used it
}

type statCache struct {
	file string   // "" = in memory only
	tmp  *os.File // created by open; its mtime is this run's reference time
	ref  int64    // reference time of this run (ns)

	old     map[string]*cacheEntry // read-only after open
	oldRef  int64
	gen     uint32 // this run's generation
	mu      sync.Mutex
	updates map[string]*cacheEntry
	dropped atomic.Bool // an old entry was found stale or racy
}

// openStatCache loads file (a missing or unreadable cache is an empty one)
// and takes this run's reference time. With file == "" the cache lives in
// memory only.
func openStatCache(file string) (*statCache, error) {
	c := &statCache{file: file, old: map[string]*cacheEntry{}, updates: map[string]*cacheEntry{}}
	if file == "" {
		return c, nil
	}
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("stat cache: %w", err)
	}
	removeStaleTemps(file)
	// The temp file the cache is later written to doubles as the clock:
	// its mtime is the file system's idea of "now", before any read.
	tmp, err := os.CreateTemp(dir, filepath.Base(file)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("stat cache: %w", err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("stat cache: %w", err)
	}
	c.tmp, c.ref = tmp, fi.ModTime().UnixNano()
	if data, err := os.ReadFile(file); err == nil {
		c.decode(data) // a corrupt cache is simply an empty one
	}
	return c, nil
}

// staleTemp is the age past which a cache temp file belongs to no running
// process: one exists only while a process hashes.
const staleTemp = time.Hour

// removeStaleTemps deletes temp files left by processes that were killed
// while hashing (SIGKILL, or Ctrl-C before the build installs its handler),
// which would otherwise pile up beside the cache.
func removeStaleTemps(file string) {
	matches, _ := filepath.Glob(file + ".tmp-*")
	for _, m := range matches {
		if fi, err := os.Lstat(m); err == nil && time.Since(fi.ModTime()) > staleTemp {
			os.Remove(m)
		}
	}
}

// lookup returns the cached sum for rel if st matches a trusted entry.
func (c *statCache) lookup(rel string, st fileStat) ([32]byte, bool) {
	e, ok := c.old[rel]
	if !ok {
		return [32]byte{}, false
	}
	if e.key != keyOf(st) || !trusted(e.key, c.oldRef) {
		c.dropped.Store(true)
		return [32]byte{}, false
	}
	e.used.Store(c.gen)
	return e.sum, true
}

func trusted(k statKey, ref int64) bool {
	return k.mtime < ref-racySlack && k.ctime < ref-racySlack
}

// store records a freshly computed sum.
func (c *statCache) store(rel string, st fileStat, sum [32]byte) {
	e := &cacheEntry{key: keyOf(st), sum: sum}
	e.used.Store(c.gen)
	c.mu.Lock()
	c.updates[rel] = e
	c.mu.Unlock()
}

// close writes the cache when anything changed (temp file + rename) and
// removes the temp file otherwise.
func (c *statCache) close() error {
	if c.tmp == nil {
		return nil
	}
	tmp := c.tmp
	c.tmp = nil
	if len(c.updates) == 0 && !c.dropped.Load() {
		tmp.Close()
		return os.Remove(tmp.Name())
	}
	data := c.encode()
	_, err := tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write stat cache %s: %w", c.file, err)
	}
	return nil
}

// Format: magic, ref (int64), gen (uint32), count (uint32), then per entry
// path (uvarint length + bytes), size, mtime, ctime (varint), inode, mode,
// generation (uvarint), sum (32 bytes); then a CRC-32 of all before it.
func (c *statCache) encode() []byte {
	buf := make([]byte, 0, 64+(len(c.old)+len(c.updates))*96)
	buf = append(buf, cacheMagic...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(c.ref))
	buf = binary.LittleEndian.AppendUint32(buf, c.gen)
	countAt := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	n := uint32(0)
	put := func(rel string, e *cacheEntry) {
		buf = binary.AppendUvarint(buf, uint64(len(rel)))
		buf = append(buf, rel...)
		buf = binary.AppendVarint(buf, e.key.size)
		buf = binary.AppendVarint(buf, e.key.mtime)
		buf = binary.AppendVarint(buf, e.key.ctime)
		buf = binary.AppendUvarint(buf, e.key.ino)
		buf = binary.AppendUvarint(buf, uint64(e.key.mode))
		buf = binary.AppendUvarint(buf, uint64(e.used.Load()))
		buf = append(buf, e.sum[:]...)
		n++
	}
	for rel, e := range c.updates {
		put(rel, e)
	}
	for rel, e := range c.old {
		if _, ok := c.updates[rel]; ok {
			continue
		}
		used := e.used.Load()
		// Keep what this run used (it was trusted), and what it did not
		// touch if it is still trusted under the old reference time; a
		// racy entry never read again must not become trusted under the
		// newer reference this file is about to carry.
		if used != c.gen && (!trusted(e.key, c.oldRef) || c.gen-used > maxAge) {
			continue
		}
		put(rel, e)
	}
	binary.LittleEndian.PutUint32(buf[countAt:], n)
	return binary.LittleEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf))
}

var errCorrupt = errors.New("corrupt stat cache")

func (c *statCache) decode(data []byte) error {
	const hdr = len(cacheMagic) + 8 + 4 + 4
	if len(data) < hdr+4 || !bytes.Equal(data[:len(cacheMagic)], []byte(cacheMagic)) {
		return errCorrupt
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return errCorrupt
	}
	p := len(cacheMagic)
	ref := int64(binary.LittleEndian.Uint64(body[p:]))
	gen := binary.LittleEndian.Uint32(body[p+8:])
	count := binary.LittleEndian.Uint32(body[p+12:])
	// One string for all paths: entries slice it instead of allocating.
	all := string(body)
	entries := make([]cacheEntry, min(int(count), len(body)/36))
	if len(entries) != int(count) {
		return errCorrupt
	}
	m := make(map[string]*cacheEntry, count)
	r := &reader{b: body, p: hdr}
	for i := range entries {
		l := int(r.uvarint())
		if r.bad || l > len(body)-r.p {
			return errCorrupt
		}
		rel := all[r.p : r.p+l]
		r.p += l
		e := &entries[i]
		e.key.size, e.key.mtime, e.key.ctime = r.varint(), r.varint(), r.varint()
		e.key.ino, e.key.mode = r.uvarint(), uint32(r.uvarint())
		e.used.Store(uint32(r.uvarint()))
		if r.bad || len(body)-r.p < 32 {
			return errCorrupt
		}
		copy(e.sum[:], body[r.p:r.p+32])
		r.p += 32
		m[rel] = e
	}
	if r.p != len(body) {
		return errCorrupt
	}
	c.old, c.oldRef, c.gen = m, ref, gen+1
	return nil
}

type reader struct {
	b   []byte
	p   int
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.p:])
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.p += n
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b[r.p:])
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.p += n
	return v
}
