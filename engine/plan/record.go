package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/gofrs/flock"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imgraph/imgraph/engine/hash"
)

// RecordEntry is what the local record remembers about one per-platform
// reference: the manifest digest the tag pointed to and the input digest
// that image carries.
type RecordEntry struct {
	Manifest string `json:"manifest"`
	Input    string `json:"input"`
}

const recordVersion = 1

type record struct {
	Version int                    `json:"version"`
	Images  map[string]RecordEntry `json:"images"` // canonical reference → entry
}

func (r *record) get(key string) (RecordEntry, bool) {
	if r == nil {
		return RecordEntry{}, false
	}
	e, ok := r.Images[key]
	return e, ok && e.Manifest != "" && e.Input != ""
}

// recordKey canonicalises a reference so "localhost:5000/x:1" and
// "docker.io/library/x:1"-style spellings of one tag share an entry.
func recordKey(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	return r.Name(), nil
}

// readRecord loads the record. A missing, unreadable-as-JSON or
// other-version file is an empty record: it is only a shortcut, and every
// entry is confirmed against the registry before it is trusted.
func readRecord(path string) (*record, error) {
	rec := &record{Version: recordVersion, Images: map[string]RecordEntry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read build record: %w", err)
	}
	var r record
	if json.Unmarshal(b, &r) != nil || r.Version != recordVersion || r.Images == nil {
		return rec, nil
	}
	return &r, nil
}

// RecordBuilt notes in the local record that ref now points at
// manifestDigest, built from inputDigest. The executor calls it after a push.
func RecordBuilt(cacheFile, ref, manifestDigest string, inputDigest hash.Digest) error {
	if cacheFile == "" {
		return nil
	}
	key, err := recordKey(ref)
	if err != nil {
		return err
	}
	return updateRecord(cacheFile, map[string]RecordEntry{key: {Manifest: manifestDigest, Input: digestString(inputDigest)}})
}

// recordMu serialises read-modify-write cycles within the process; the
// file lock does the same across processes.
var recordMu sync.Mutex

// updateRecord merges updates into the record file and replaces it
// atomically (write to a temporary file, then rename).
func updateRecord(path string, updates map[string]RecordEntry) error {
	recordMu.Lock()
	defer recordMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("update build record: %w", err)
	}
	lock := flock.New(path + ".lock")
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("update build record: lock %s: %w", lock.Path(), err)
	}
	defer lock.Unlock()

	rec, err := readRecord(path)
	if err != nil {
		return err
	}
	for k, v := range updates {
		rec.Images[k] = v
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("update build record: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("update build record: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("update build record %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("update build record %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("update build record %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("update build record %s: %w", path, err)
	}
	return nil
}
