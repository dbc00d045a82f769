package plan

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgraph/imgraph/engine/platform"
	reg "github.com/imgraph/imgraph/engine/registry"
)

type lookup struct {
	reg    reg.Options
	remote []remote.Option // shared by all lookups of one Plan
	rec    *record         // nil without a local record
}

// decide looks one node up. It returns what it learned about the registry
// (for the local record) when the image there carries an input digest.
func (l *lookup) decide(ctx context.Context, n Node) (Decision, *RecordEntry, error) {
	d := Decision{ID: n.ID, Ref: n.Ref, Digest: n.Digest}
	ref, err := l.reg.ParseRef(n.Ref)
	if err != nil {
		return d, nil, err
	}
	opts := append(l.remote[:len(l.remote):len(l.remote)], remote.WithContext(ctx))

	var manifest, input, parts string
	fromRecord := false
	if e, ok := l.rec.get(ref.Name()); ok {
		// One HEAD: if the tag still points at the recorded manifest, the
		// recorded input digest is what the registry image carries.
		desc, err := remote.Head(ref, opts...)
		switch {
		case reg.IsNotFound(err):
			return build(d, "not in registry"), nil, nil
		case err != nil:
			return d, nil, reg.Explain("look up", ref, err)
		case desc.Digest.String() == e.Manifest:
			manifest, input, fromRecord = e.Manifest, e.Input, true
		}
	}
	if manifest == "" {
		var found bool
		manifest, input, parts, found, err = fetchInput(ref, n.ID.Platform, opts)
		if err != nil {
			return d, nil, err
		}
		if !found {
			return build(d, "not in registry"), nil, nil
		}
	}
	d.RegistryInput = input
	var learned *RecordEntry
	if input != "" {
		learned = &RecordEntry{Manifest: manifest, Input: input}
	}
	want := digestString(n.Digest)
	switch {
	case input == "":
		return build(d, fmt.Sprintf("registry image has no %s label (not built by imgraph)", LabelInputDigest)), learned, nil
	case input != want:
		if fromRecord && len(n.Parts) > 0 {
			// The record holds no parts; one more read says which changed
			// (the node is about to be built, which costs far more).
			if _, _, p, _, err := fetchInput(ref, n.ID.Platform, opts); err == nil {
				parts = p
			}
		}
		return build(d, changedReason("registry", input, n.Parts, parts)), learned, nil
	}
	d.Status = StatusUpToDate
	d.Reason = "registry image has the same input digest"
	d.ExistingDigest = manifest
	return d, learned, nil
}

func build(d Decision, reason string) Decision {
	d.Status, d.Build, d.Reason = StatusBuild, true, reason
	return d
}

// fetchInput reads the input-digest label of the image at ref. manifest is
// the digest the tag points to. A per-platform tag holding an index (BuildKit
// adds attestations that way) is resolved to its single platform image.
func fetchInput(ref name.Reference, p platform.Platform, opts []remote.Option) (manifest, input, parts string, found bool, err error) {
	desc, err := remote.Get(ref, opts...)
	if reg.IsNotFound(err) {
		return "", "", "", false, nil
	}
	if err != nil {
		return "", "", "", false, reg.Explain("look up", ref, err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		ii, err := desc.ImageIndex()
		if err != nil {
			return "", "", "", false, reg.Explain("read index", ref, err)
		}
		child, err := PlatformChild(ii, p)
		if err != nil {
			return "", "", "", false, fmt.Errorf("%s: %w", ref, err)
		}
		if img, err = ii.Image(child.Digest); err != nil {
			return "", "", "", false, reg.Explain("read image", ref, err)
		}
	} else if img, err = desc.Image(); err != nil {
		return "", "", "", false, reg.Explain("read image", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", "", "", false, reg.Explain("read image config of", ref, err)
	}
	return desc.Digest.String(), cf.Config.Labels[LabelInputDigest], cf.Config.Labels[LabelInputParts], true, nil
}

// PlatformChild picks the image of an index stored under a per-platform
// tag: the single non-attestation image, or, if there are several, the one
// matching p.
func PlatformChild(ii v1.ImageIndex, p platform.Platform) (v1.Descriptor, error) {
	im, err := ii.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("read index manifest: %w", err)
	}
	var images []v1.Descriptor
	for _, c := range im.Manifests {
		if c.MediaType.IsImage() && !reg.IsAttestation(c) {
			images = append(images, c)
		}
	}
	if len(images) == 1 {
		return images[0], nil
	}
	for _, c := range images {
		if c.Platform != nil && c.Platform.OS == p.OS && c.Platform.Architecture == p.Arch && c.Platform.Variant == p.Variant {
			return c, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("the per-platform tag holds an index with %d platform images and none is %s", len(images), p.OCI())
}
