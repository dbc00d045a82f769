package buildkit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func descriptor(t *testing.T, n int) (string, v1.Hash) {
	t.Helper()
	h, _, err := v1.SHA256(strings.NewReader(fmt.Sprint(n)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: 100})
	return base64.StdEncoding.EncodeToString(b), h
}

// TestLayoutTagConcurrentProcesses: several processes (separate stores on
// one directory, as two imgraph builds without a registry are) tag names at
// once; a reader never sees a half-written index.json and no name is lost.
func TestLayoutTagConcurrentProcesses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "oci")
	if _, err := openLayout(dir); err != nil {
		t.Fatal(err)
	}
	const procs, rounds = 4, 25
	stop := make(chan struct{})
	var readerErr error
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(filepath.Join(dir, "index.json"))
			if err == nil {
				var im v1.IndexManifest
				err = json.Unmarshal(b, &im)
			}
			if err != nil && readerErr == nil {
				readerErr = err
			}
		}
	}()
	last := map[string]v1.Hash{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &layoutStore{dir: dir} // its own mutex: another process
			for r := range rounds {
				name := fmt.Sprintf("imgraph.local/img%d:1.0", p)
				d, h := descriptor(t, p*1000+r)
				if err := s.tag(name, d); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				last[name] = h
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	if readerErr != nil {
		t.Errorf("a reader saw a broken index.json: %v", readerErr)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]v1.Hash{}
	for _, d := range im.Manifests {
		n := d.Annotations[RefNameAnnotation]
		if _, dup := got[n]; dup {
			t.Errorf("%s tagged twice", n)
		}
		got[n] = d.Digest
	}
	if fmt.Sprint(got) != fmt.Sprint(last) {
		t.Errorf("index.json names %v, want %v", got, last)
	}
}
