package buildkit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/gofrs/flock"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/imgraph/imgraph/internal/atomicfile"
)

// RefNameAnnotation names an image in the local OCI layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// layoutStore is the local OCI layout used when no registry is configured:
// BuildKit exports into its content store, and children read their parents
// from it as named contexts (oci-layout://).
type layoutStore struct {
	dir   string
	store content.Store
	mu    sync.Mutex // index.json is rewritten by us, one update at a time
}

var (
	storesMu sync.Mutex
	stores   = map[string]*layoutStore{}
)

func openLayout(dir string) (*layoutStore, error) {
	storesMu.Lock()
	defer storesMu.Unlock()
	if s, ok := stores[dir]; ok {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockLayout(dir)
	if err != nil {
		return nil, err
	}
	// Under the lock: another process may be creating or tagging it.
	if _, err := layout.FromPath(dir); err != nil {
		if _, err := layout.Write(dir, empty.Index); err != nil {
			unlock()
			return nil, fmt.Errorf("create OCI layout %s: %w", dir, err)
		}
	}
	unlock()
	cs, err := contentlocal.NewStore(dir)
	if err != nil {
		return nil, fmt.Errorf("open OCI layout %s: %w", dir, err)
	}
	s := &layoutStore{dir: dir, store: cs}
	stores[dir] = s
	return s, nil
}

// tag points name at the exported image in index.json, replacing an older
// entry of the same name.
func (s *layoutStore) tag(name string, descB64 string) error {
	raw, err := base64.StdEncoding.DecodeString(descB64)
	if err != nil {
		return fmt.Errorf("decode image descriptor: %w", err)
	}
	var desc v1.Descriptor
	if err := json.Unmarshal(raw, &desc); err != nil {
		return fmt.Errorf("decode image descriptor: %w", err)
	}
	desc.Annotations = map[string]string{RefNameAnnotation: name}
	desc.Platform = nil
	s.mu.Lock()
	defer s.mu.Unlock()
	// Another imgraph process may tag into the same layout: one locked
	// read-modify-write and an atomic replace, so neither loses the
	// other's names nor reads a half-written index.json (go-containerregistry's
	// RemoveDescriptors/AppendDescriptor write it twice, in place).
	unlock, err := lockLayout(s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	p, err := layout.FromPath(s.dir)
	if err != nil {
		return err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return fmt.Errorf("read %s/index.json: %w", s.dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("read %s/index.json: %w", s.dir, err)
	}
	out := im.DeepCopy()
	out.Manifests = out.Manifests[:0]
	for _, d := range im.Manifests {
		if d.Annotations[RefNameAnnotation] != name {
			out.Manifests = append(out.Manifests, d)
		}
	}
	out.Manifests = append(out.Manifests, desc)
	data, err := json.MarshalIndent(out, "", "   ")
	if err != nil {
		return fmt.Errorf("update %s/index.json: %w", s.dir, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, "index.json"), data); err != nil {
		return fmt.Errorf("update %s/index.json: %w", s.dir, err)
	}
	return nil
}

// lockLayout takes the cross-process lock of the layout at dir (a file
// beside it, so the layout holds only OCI files).
func lockLayout(dir string) (func(), error) {
	l := flock.New(filepath.Clean(dir) + ".lock")
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("lock OCI layout %s: %w", dir, err)
	}
	return func() { l.Unlock() }, nil
}
