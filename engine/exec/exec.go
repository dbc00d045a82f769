// Package exec runs the build graph: a bounded-parallel scheduler over
// graph nodes and the executors that build one node each (BuildKit for
// Linux, a Docker Engine daemon for Windows).
package exec

import (
	"context"

	"github.com/moby/buildkit/client"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/hash"
	"github.com/imgraph/imgraph/engine/platform"
)

// Request is everything an executor needs to build and push one node. The
// scheduler resolves every reference before calling Build, so executors do
// not look at the graph.
type Request struct {
	ID       graph.NodeID
	Platform platform.Platform
	// Root is the absolute workspace root; Dockerfile and ContextDir are
	// absolute paths below it.
	Root       string
	Dockerfile string
	ContextDir string
	// Extra files added to the context root (prebuild outputs): name in the
	// context → absolute host path. They override context files of the same name.
	Extra map[string]string
	// BuildArgs are complete: BASEIMAGE (pinned by digest), REGISTRY,
	// OS_VERSION, image_args references, user build_args.
	BuildArgs map[string]string
	// Labels are complete, including plan.LabelInputDigest.
	Labels map[string]string
	Digest hash.Digest
	// Ref is the per-platform reference to push (registry/repo:version-os-arch).
	Ref  string
	Push bool
	// Provenance asks for a SLSA provenance attestation (BuildKit only);
	// the per-platform tag then holds an index with the attestation.
	Provenance bool
	// Layout, when set, is a local OCI layout directory to export into
	// instead of pushing (no registry configured); Ref names the image in
	// its index.json. Contexts maps image names used in the Dockerfile
	// (BASEIMAGE, image_args) to digests in that layout.
	Layout   string
	Contexts map[string]string
	NoCache  bool
	// Status receives progress; the executor closes it when done (as
	// client.Solve does). Nil means no progress.
	Status chan *client.SolveStatus
}

// Result is what a build produced.
type Result struct {
	// Digest is the digest of the pushed per-platform image manifest.
	Digest string
	Ref    string
}

// Executor builds one node. BuildKit and the Docker Engine are the two
// implementations.
type Executor interface {
	// Name describes the executor in messages ("buildkit unix:///...").
	Name() string
	Build(ctx context.Context, req Request) (Result, error)
}
