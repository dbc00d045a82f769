package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// refNameAnnotation is how the local OCI layout names its images.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// PlanLayout decides nodes against a local OCI layout (the no-registry
// mode): a node is up to date when the layout holds an image under its
// Ref whose input-digest label matches.
func PlanLayout(nodes []Node, dir string, noCache bool) ([]Decision, error) {
	out := make([]Decision, len(nodes))
	for i, n := range nodes {
		out[i] = Decision{ID: n.ID, Ref: n.Ref, Digest: n.Digest, Status: StatusBuild, Build: true, Reason: "not in " + dir}
		if noCache {
			out[i].Reason = "--no-cache"
		}
	}
	if noCache {
		return out, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	byName := map[string]int{}
	for i, m := range im.Manifests {
		byName[m.Annotations[refNameAnnotation]] = i
	}
	for i, n := range nodes {
		j, ok := byName[n.Ref]
		if !ok {
			continue
		}
		desc := im.Manifests[j]
		img, err := idx.Image(desc.Digest)
		if err != nil {
			out[i].Reason = fmt.Sprintf("unreadable in %s: %v", dir, err)
			continue
		}
		cf, err := img.ConfigFile()
		if err != nil {
			out[i].Reason = fmt.Sprintf("unreadable in %s: %v", dir, err)
			continue
		}
		have := cf.Config.Labels[LabelInputDigest]
		out[i].RegistryInput = have
		if have == string(n.Digest) {
			out[i] = Decision{ID: n.ID, Ref: n.Ref, Digest: n.Digest, Status: StatusUpToDate, Reason: "up to date in " + dir,
				ExistingDigest: desc.Digest.String(), RegistryInput: have}
		} else {
			out[i].Reason = changedReason("layout", have, n.Parts, cf.Config.Labels[LabelInputParts])
		}
	}
	return out, nil
}
