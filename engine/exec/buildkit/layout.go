package buildkit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
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
	if _, err := layout.FromPath(dir); err != nil {
		if _, err := layout.Write(dir, empty.Index); err != nil {
			return nil, fmt.Errorf("create OCI layout %s: %w", dir, err)
		}
	}
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
	p, err := layout.FromPath(s.dir)
	if err != nil {
		return err
	}
	if err := p.RemoveDescriptors(match.Annotation(RefNameAnnotation, name)); err != nil {
		return fmt.Errorf("update %s/index.json: %w", s.dir, err)
	}
	if err := p.AppendDescriptor(desc); err != nil {
		return fmt.Errorf("update %s/index.json: %w", s.dir, err)
	}
	return nil
}
