package hash

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgraph/imgraph/engine/graph"
)

// TestStatCache runs the hasher twice over a workspace with a persistent
// cache, changing one file in between, and checks the second run never
// returns a stale digest while an untouched tree costs no reads.
func TestStatCache(t *testing.T) {
	const file = "images/parent/src/a.txt"
	hour := int64(time.Hour)
	// aged pretends every file was last touched an hour ago, as a real
	// warm tree would be; the shift is the same in both runs, so any real
	// stat change still shows.
	aged := func(_ string, st *fileStat) { st.mtime -= hour; st.ctime -= hour }
	// sameTick pretends the file system's timestamps are too coarse to see
	// the edit: ctime follows mtime, which the edit restores.
	sameTick := func(_ string, st *fileStat) { st.ctime = st.mtime }
	tests := []struct {
		name        string
		hook        func(string, *fileStat)
		edit        func(t *testing.T, root string)
		wantChange  bool
		wantRereads int // files read by the second run
	}{
		{"unchanged", aged, func(*testing.T, string) {}, false, 0},
		{"same size, mtime restored: ctime catches it", aged, func(t *testing.T, root string) {
			rewriteKeepingStat(t, filepath.Join(root, file), "b")
		}, true, 1},
		{"replaced by rename, mtime restored: inode catches it", aged, func(t *testing.T, root string) {
			p := filepath.Join(root, file)
			fi, _ := os.Stat(p)
			tmp := p + ".new"
			writeFiles(t, root, map[string]string{file + ".new": "c"})
			if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}, true, 1},
		{"chmod", aged, func(t *testing.T, root string) {
			if err := os.Chmod(filepath.Join(root, file), 0o755); err != nil {
				t.Fatal(err)
			}
		}, true, 1},
		// The racy case: size, mtime and ctime all unchanged. Only the
		// rule that entries written too close to the cache's reference
		// time are re-read saves us.
		{"racy: same tick as the cache write", sameTick, func(t *testing.T, root string) {
			rewriteKeepingStat(t, filepath.Join(root, file), "d")
		}, true, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeWorkspace(t, root)
			opts := Options{CacheFile: filepath.Join(root, ".imgraph/cache/stat-cache")}
			before, st1 := hashWithHook(t, root, opts, tc.hook)
			if st1.FilesHashed == 0 || st1.CacheHits != 0 {
				t.Fatalf("first run: %+v", st1)
			}
			// Let the clock tick past the first run's timestamps, as it
			// would between two real runs (the racy case pins them anyway).
			time.Sleep(20 * time.Millisecond)
			tc.edit(t, root)
			after, st2 := hashWithHook(t, root, opts, tc.hook)
			if got := len(changed(before, after)) > 0; got != tc.wantChange {
				t.Errorf("digests changed: %v, want %v", got, tc.wantChange)
			}
			if tc.wantRereads >= 0 && st2.FilesHashed != tc.wantRereads {
				t.Errorf("second run read %d files, want %d (%+v)", st2.FilesHashed, tc.wantRereads, st2)
			}
			if tc.wantRereads == 0 && st2.CacheHits == 0 {
				t.Errorf("second run: no cache hits (%+v)", st2)
			}
			// Whatever the cache held, a run without it agrees.
			if fresh := digests(t, root, Options{}); len(changed(fresh, after)) != 0 {
				t.Errorf("cached run differs from an uncached one: %v", changed(fresh, after))
			}
			// Nothing but the cache file is left in its directory.
			ents, _ := os.ReadDir(filepath.Dir(opts.CacheFile))
			if len(ents) != 1 || ents[0].Name() != "stat-cache" {
				t.Errorf("cache dir holds %v", ents)
			}
		})
	}
}

// TestStatCacheCorrupt: a damaged cache file is ignored and replaced.
func TestStatCacheCorrupt(t *testing.T) {
	for name, damage := range map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"flipped":   func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
		"garbage":   func([]byte) []byte { return []byte("not a cache") },
		"empty":     func([]byte) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			writeWorkspace(t, root)
			opts := Options{CacheFile: filepath.Join(root, "cache")}
			aged := func(_ string, st *fileStat) { st.mtime -= int64(time.Hour); st.ctime -= int64(time.Hour) }
			want, _ := hashWithHook(t, root, opts, aged)
			b, err := os.ReadFile(opts.CacheFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(opts.CacheFile, damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			got, st := hashWithHook(t, root, opts, aged)
			if st.CacheHits != 0 || st.FilesHashed == 0 {
				t.Errorf("damaged cache used: %+v", st)
			}
			if len(changed(want, got)) != 0 {
				t.Errorf("digests differ after a damaged cache")
			}
			if _, st := hashWithHook(t, root, opts, aged); st.FilesHashed != 0 {
				t.Errorf("cache not rewritten: %+v", st)
			}
		})
	}
}

func hashWithHook(t *testing.T, root string, opts Options, hook func(string, *fileStat)) (map[graph.NodeID]NodeDigest, Stats) {
	t.Helper()
	g := loadGraph(t, root)
	h, err := New(root, os.DirFS(root), opts)
	if err != nil {
		t.Fatal(err)
	}
	h.statHook = hook
	d, err := h.Nodes(context.Background(), g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	return d, h.Stats()
}

// rewriteKeepingStat replaces a file's content with as many bytes and
// puts its mtime back.
func rewriteKeepingStat(t *testing.T, p, content string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(content)) != fi.Size() {
		t.Fatalf("%s: size %d, new content %d bytes", p, fi.Size(), len(content))
	}
	if err := os.WriteFile(p, []byte(content), fi.Mode()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestStatCacheRemovesStaleTemps: temp files of killed processes go, those
// a running process may still write stay.
func TestStatCacheRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "stat-cache")
	old := time.Now().Add(-2 * staleTemp)
	tests := []struct {
		name string
		age  time.Time
		keep bool
	}{
		{"stat-cache.tmp-111", old, false},
		{"stat-cache.tmp-222", time.Now(), true},
		{"other.tmp-333", old, true},
	}
	for _, tc := range tests {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, tc.age, tc.age); err != nil {
			t.Fatal(err)
		}
	}
	c, err := openStatCache(file)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for _, tc := range tests {
		_, err := os.Stat(filepath.Join(dir, tc.name))
		if kept := err == nil; kept != tc.keep {
			t.Errorf("%s: kept %v, want %v", tc.name, kept, tc.keep)
		}
	}
	if _, err := os.Stat(c.tmp.Name()); err != nil {
		t.Errorf("this run's temp file: %v", err)
	}
}

// TestStatCacheConcurrentProcesses: cache files written by several
// "processes" at once (each its own statCache) are never seen half
// written by a reader, and leave no temp files.
func TestStatCacheConcurrentProcesses(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stat-cache")
	const writers, rounds = 4, 30
	stop := make(chan struct{})
	readerDone := make(chan int)
	go func() {
		reads := 0
		for {
			select {
			case <-stop:
				readerDone <- reads
				return
			default:
			}
			data, err := os.ReadFile(file)
			if err != nil {
				continue // not written yet
			}
			reads++
			if err := (&statCache{}).decode(data); err != nil {
				t.Errorf("read a torn cache file (%d bytes): %v", len(data), err)
			}
		}
	}()
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for r := range rounds {
				c, err := openStatCache(file)
				if err != nil {
					errs <- err
					return
				}
				for i := range 200 {
					rel := filepath.Join("images", string(rune('a'+w)), string(rune('a'+i%26)), fmt.Sprint(i))
					c.store(rel, fileStat{size: int64(r), mtime: 1, ctime: 1, ino: uint64(i)}, [32]byte{byte(w), byte(r)})
				}
				if err := c.close(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if n := <-readerDone; n == 0 {
		t.Fatal("the reader never saw a cache file")
	}
	matches, _ := filepath.Glob(file + ".tmp-*")
	if len(matches) != 0 {
		t.Errorf("temp files left: %v", matches)
	}
}
