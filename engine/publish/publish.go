// Package publish writes multi-platform manifest lists from per-platform
// images that are already in the registry.
//
// Media type: the list is a Docker manifest list (what the legacy
// `docker manifest create` scripts produced and what the Kubernetes image
// tooling expects) when every entry is a Docker schema 2 manifest — Docker
// Engine pushes those, and so does BuildKit with oci-mediatypes=false. If
// any entry is an OCI manifest the list is an OCI image index instead,
// because a Docker list referencing OCI manifests is a mixed document that
// strict clients reject.
package publish

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/imgraph/imgraph/engine/platform"
	reg "github.com/imgraph/imgraph/engine/registry"
)

// Entry is one per-platform image of a list.
type Entry struct {
	// Ref is the per-platform reference (registry/repo:version-os-arch).
	Ref string
	// Digest is its manifest digest; empty means resolve Ref's tag.
	Digest   string
	Platform platform.Platform
}

// List is a manifest list to write.
type List struct {
	// Ref is the manifest-list reference (registry/repo:version).
	Ref string
	// Declared are the platforms the image declares; every one must have
	// an entry whose image exists. Empty means the entries' platforms.
	Declared []platform.Platform
	Entries  []Entry
}

// Options configure Publish.
type Options struct {
	// Keychain supplies registry credentials; nil means authn.DefaultKeychain.
	Keychain authn.Keychain
	// AllowMissing publishes the platforms that exist when some declared
	// ones do not, reporting the missing ones in Result.Missing.
	AllowMissing bool
	// Insecure uses plain HTTP for every registry; loopback registries
	// always use plain HTTP.
	Insecure bool
	// Transport replaces the default HTTP transport (tests).
	Transport http.RoundTripper
	// Backoff overrides reg.DefaultBackoff (tests).
	Backoff *remote.Backoff
	// Concurrency bounds parallel registry reads; 0 means 8.
	Concurrency int
}

// Status says what Publish did.
type Status string

const (
	StatusWritten  Status = "written"
	StatusUpToDate Status = "up-to-date"
)

// Result describes the published list.
type Result struct {
	// Digest is the list's manifest digest.
	Digest string
	Status Status
	// Platforms are the platforms in the list, as read from the image
	// configs, in list order.
	Platforms []v1.Platform
	// Missing are declared platforms left out (only with AllowMissing).
	Missing []platform.Platform
}

// Warning describes left-out platforms, or "" when none were.
func (r Result) Warning() string {
	if len(r.Missing) == 0 {
		return ""
	}
	return "manifest list published without " + joinPlatforms(r.Missing) + " (not in the registry)"
}

// MissingError lists declared platforms whose images are not in the registry.
type MissingError struct {
	Ref     string
	Missing []platform.Platform
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("publish %s: not writing the manifest list: no image in the registry for %s; build and push them first", e.Ref, joinPlatforms(e.Missing))
}

func joinPlatforms(ps []platform.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// resolved is one entry after reading the registry.
type resolved struct {
	entry   Entry
	missing bool
	adds    []mutate.IndexAddendum
}

// Publish writes the manifest list l.Ref from the per-platform images,
// referenced by digest. Each descriptor's platform (with os.version for
// Windows) comes from the image's own config. Nothing is written unless
// every declared platform's image exists (or AllowMissing), and nothing is
// written when the list at l.Ref already has the same digest; the write is
// a single manifest PUT, so a failure leaves the previous list in place.
func Publish(ctx context.Context, l List, opts Options) (Result, error) {
	ro := reg.Options{Keychain: opts.Keychain, Transport: opts.Transport, Insecure: opts.Insecure, Backoff: opts.Backoff}
	listRef, err := ro.ParseRef(l.Ref)
	if err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	declared := l.Declared
	if len(declared) == 0 {
		for _, e := range l.Entries {
			declared = append(declared, e.Platform)
		}
	}
	byPlatform := map[platform.Platform]int{}
	for i, e := range l.Entries {
		if _, dup := byPlatform[e.Platform]; dup {
			return Result{}, fmt.Errorf("publish %s: two entries for %s", l.Ref, e.Platform)
		}
		byPlatform[e.Platform] = i
	}
	isDeclared := map[platform.Platform]bool{}
	for _, p := range declared {
		isDeclared[p] = true
	}
	for _, e := range l.Entries {
		if !isDeclared[e.Platform] {
			return Result{}, fmt.Errorf("publish %s: entry %s is for %s, which is not a declared platform", l.Ref, e.Ref, e.Platform)
		}
	}

	// Read every entry (existence, config platform) before writing anything.
	res := make([]resolved, len(l.Entries))
	g, gctx := errgroup.WithContext(ctx)
	session, err := ro.Session(ctx)
	if err != nil {
		return Result{}, err
	}
	limit := opts.Concurrency
	if limit <= 0 {
		limit = 8
	}
	g.SetLimit(limit)
	for i, e := range l.Entries {
		g.Go(func() error {
			r, err := resolve(ro, append(session[:len(session):len(session)], remote.WithContext(gctx)), listRef, e)
			res[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}

	var missing []platform.Platform
	var adds []mutate.IndexAddendum
	for _, p := range declared {
		i, ok := byPlatform[p]
		if !ok || res[i].missing {
			missing = append(missing, p)
			continue
		}
		adds = append(adds, res[i].adds...)
	}
	if len(missing) > 0 && (!opts.AllowMissing || len(adds) == 0) {
		return Result{}, &MissingError{Ref: l.Ref, Missing: missing}
	}
	if err := checkDuplicates(l.Ref, adds); err != nil {
		return Result{}, err
	}

	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), listMediaType(adds))
	digest, err := idx.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("publish %s: compute list digest: %w", l.Ref, err)
	}
	out := Result{Digest: digest.String(), Status: StatusWritten, Missing: missing}
	for _, a := range adds {
		out.Platforms = append(out.Platforms, *a.Descriptor.Platform)
	}

	ropts := append(session, remote.WithContext(ctx))
	cur, err := remote.Head(listRef, ropts...)
	switch {
	case err == nil && cur.Digest == digest:
		out.Status = StatusUpToDate
		return out, nil
	case err != nil && !reg.IsNotFound(err):
		return Result{}, reg.Explain("publish: look up", listRef, err)
	}
	// remote.Put is one manifest PUT; the children are already in the
	// repository (checked above), which the registry verifies too.
	if err := remote.Put(listRef, idx, ropts...); err != nil {
		return Result{}, reg.Explain("publish: write manifest list", listRef, err)
	}
	return out, nil
}

// resolve checks that an entry's image exists and reads the platform of
// each image it stands for (one, or several for a per-platform index).
func resolve(ro reg.Options, opts []remote.Option, listRef name.Reference, e Entry) (resolved, error) {
	r := resolved{entry: e}
	tagRef, err := ro.ParseRef(e.Ref)
	if err != nil {
		return r, fmt.Errorf("publish %s: %w", listRef, err)
	}
	if tagRef.Context().Name() != listRef.Context().Name() {
		return r, fmt.Errorf("publish %s: entry %s is in another repository; per-platform images must be in the list's repository", listRef, e.Ref)
	}
	digest := e.Digest
	if digest == "" {
		desc, err := remote.Head(tagRef, opts...)
		if reg.IsNotFound(err) {
			r.missing = true
			return r, nil
		}
		if err != nil {
			return r, reg.Explain("publish: look up", tagRef, err)
		}
		digest = desc.Digest.String()
	}
	byDigest, err := ro.ParseRef(tagRef.Context().Name() + "@" + digest)
	if err != nil {
		return r, fmt.Errorf("publish %s: entry %s: %w", listRef, e.Ref, err)
	}
	desc, err := remote.Get(byDigest, opts...)
	if reg.IsNotFound(err) {
		r.missing = true
		return r, nil
	}
	if err != nil {
		return r, reg.Explain("publish: read", byDigest, err)
	}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return r, reg.Explain("publish: read", byDigest, err)
		}
		a, err := addendum(img, desc.MediaType, e)
		if err != nil {
			return r, fmt.Errorf("publish %s: %w", listRef, err)
		}
		r.adds = append(r.adds, a)
		return r, nil
	}
	// A per-platform index (BuildKit with attestations): flatten it,
	// dropping attestation entries.
	ii, err := desc.ImageIndex()
	if err != nil {
		return r, reg.Explain("publish: read", byDigest, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return r, reg.Explain("publish: read", byDigest, err)
	}
	for _, c := range im.Manifests {
		if !c.MediaType.IsImage() || reg.IsAttestation(c) {
			continue
		}
		img, err := ii.Image(c.Digest)
		if err != nil {
			return r, reg.Explain("publish: read", byDigest, err)
		}
		a, err := addendum(img, c.MediaType, e)
		if err != nil {
			return r, fmt.Errorf("publish %s: %w", listRef, err)
		}
		r.adds = append(r.adds, a)
	}
	if len(r.adds) == 0 {
		return r, fmt.Errorf("publish %s: entry %s@%s is an index without platform images", listRef, e.Ref, digest)
	}
	return r, nil
}

// addendum takes the descriptor's platform from the image config, and
// checks it against the platform the entry was built for: a wrong-arch
// image under a per-platform tag would otherwise be published silently.
func addendum(img v1.Image, mt types.MediaType, e Entry) (mutate.IndexAddendum, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return mutate.IndexAddendum{}, fmt.Errorf("read config of %s: %w", e.Ref, err)
	}
	p := cf.Platform()
	if p == nil || p.OS == "" || p.Architecture == "" {
		return mutate.IndexAddendum{}, fmt.Errorf("image %s has no os/architecture in its config", e.Ref)
	}
	if err := matches(*p, e.Platform); err != nil {
		return mutate.IndexAddendum{}, fmt.Errorf("image %s: %w", e.Ref, err)
	}
	if e.Platform.OS == "linux" && e.Platform.OSVersion != "" && p.OSVersion == "" {
		// The Windows-helper shape (linux/amd64/ltsc2022): several
		// linux/amd64 entries, told apart by the Windows build they serve.
		p.OSVersion = platform.WindowsReleases[e.Platform.OSVersion]
	}
	return mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: mt, Platform: p}}, nil
}

func matches(got v1.Platform, want platform.Platform) error {
	if got.OS != want.OS || got.Architecture != want.Arch {
		return fmt.Errorf("config says %s/%s, expected %s", got.OS, got.Architecture, want.OCI())
	}
	if got.Variant != "" && want.Variant != "" && got.Variant != want.Variant {
		return fmt.Errorf("config says variant %s, expected %s", got.Variant, want.OCI())
	}
	if want.OS == "windows" && want.OSVersion != "" {
		build := platform.WindowsReleases[want.OSVersion]
		if got.OSVersion == "" {
			return fmt.Errorf("Windows image has no os.version in its config (expected %s.*)", build)
		}
		if build != "" && got.OSVersion != build && !strings.HasPrefix(got.OSVersion, build+".") {
			return fmt.Errorf("config says os.version %s, expected %s.* (%s)", got.OSVersion, build, want.OSVersion)
		}
	}
	return nil
}

// checkDuplicates refuses two entries with the same platform: clients would
// pick one arbitrarily.
func checkDuplicates(ref string, adds []mutate.IndexAddendum) error {
	seen := map[string]bool{}
	for _, a := range adds {
		p := a.Descriptor.Platform
		k := strings.Join([]string{p.OS, p.Architecture, p.Variant, p.OSVersion}, "/")
		if seen[k] {
			return fmt.Errorf("publish %s: two images for platform %s", ref, p)
		}
		seen[k] = true
	}
	return nil
}

func listMediaType(adds []mutate.IndexAddendum) types.MediaType {
	for _, a := range adds {
		if a.Descriptor.MediaType != types.DockerManifestSchema2 {
			return types.OCIImageIndex
		}
	}
	return types.DockerManifestList
}
