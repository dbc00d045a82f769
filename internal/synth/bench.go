package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// generatorVersion names the shape Generate writes; bump it when that
// changes so Workspace stops reusing old trees.
const generatorVersion = 2

// Workspace returns a workspace generated for cfg, read-only for callers.
// It lives in $TMPDIR/imgraph-synth-<config hash> and is reused by later
// benchmark runs (generating 50,000 files takes seconds); a marker file
// written last tells a complete tree from an interrupted one.
func Workspace(tb testing.TB, cfg Config) string {
	tb.Helper()
	cfg.defaults()
	sum := sha256.Sum256([]byte(fmt.Sprintf("v%d %+v", generatorVersion, cfg)))
	dir := filepath.Join(os.TempDir(), "imgraph-synth-"+hex.EncodeToString(sum[:6]))
	marker := filepath.Join(dir, ".synth-complete")
	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(marker); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		tb.Fatal(err)
	}
	if err := Generate(dir, cfg); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

var mu sync.Mutex

// PeakHeap runs f while sampling the heap every 5ms and returns the largest
// HeapAlloc seen. ReadMemStats stops the world briefly, so the sampling
// interval is kept coarse.
func PeakHeap(f func()) uint64 {
	var peak uint64
	var mu sync.Mutex
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		peak = max(peak, ms.HeapAlloc)
		mu.Unlock()
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	f()
	close(done)
	<-stopped
	sample()
	return peak
}
