// Package plan decides which nodes to build and which to skip. The record
// of what an image was built from lives with the image: every image imgraph
// builds carries its node's input digest as the config label
// LabelInputDigest, so a node is up to date when the image at its
// per-platform reference carries the node's current input digest. That
// works across machines; the optional local record (Options.CacheFile)
// only saves the config fetch when a HEAD request shows the tag unchanged.
package plan

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/hash"
	reg "github.com/imgraph/imgraph/engine/registry"
)

// LabelInputDigest is the image config label that records the node's input
// digest on every image imgraph builds. The executors set it; Plan reads it.
const LabelInputDigest = "dev.imgraph.input-digest"

// Status summarises a decision.
type Status string

const (
	StatusBuild    Status = "build"
	StatusUpToDate Status = "up-to-date"
	// StatusNoBuilder is for the caller: Plan never sets it, the CLI marks
	// nodes whose platform no configured builder can build.
	StatusNoBuilder Status = "no-builder"
)

// Node is what Plan needs to know about one graph node.
type Node struct {
	ID graph.NodeID
	// Ref is the per-platform reference (registry/repo:version-os-arch).
	Ref    string
	Digest hash.Digest
	// Parts are the digest's parts (hash.NodeDigest.Parts); with them a
	// changed node's reason names the inputs that changed.
	Parts map[string]hash.Digest
}

// Decision says whether a node builds and why.
type Decision struct {
	ID     graph.NodeID
	Ref    string
	Digest hash.Digest
	Status Status
	Build  bool
	Reason string
	// ExistingDigest is the manifest digest at Ref (what the tag points to)
	// when the node is up to date.
	ExistingDigest string
	// RegistryInput is the input digest recorded on the image at Ref, when
	// there is one (also when it differs from Digest).
	RegistryInput string
}

// Options configure Plan.
type Options struct {
	// NoCache builds every node.
	NoCache bool
	// Keychain supplies registry credentials; nil means authn.DefaultKeychain.
	Keychain authn.Keychain
	// Insecure uses plain HTTP for every registry; loopback registries
	// always use plain HTTP.
	Insecure bool
	// CacheFile is the local record (JSON); empty means none.
	CacheFile string
	// Concurrency bounds parallel registry lookups; 0 means 8.
	Concurrency int
	// Transport replaces the default HTTP transport (tests).
	Transport http.RoundTripper
	// Backoff overrides reg.DefaultBackoff (tests).
	Backoff *remote.Backoff
}

func (o Options) registry() reg.Options {
	return reg.Options{Keychain: o.Keychain, Transport: o.Transport, Insecure: o.Insecure, Backoff: o.Backoff}
}

// Plan decides every node, in the order given. Lookups run in parallel; the
// first registry failure cancels the rest and is returned, naming the
// registry and what to do.
func Plan(ctx context.Context, nodes []Node, opts Options) ([]Decision, error) {
	out := make([]Decision, len(nodes))
	if opts.NoCache {
		for i, n := range nodes {
			out[i] = Decision{ID: n.ID, Ref: n.Ref, Digest: n.Digest, Status: StatusBuild, Build: true, Reason: "--no-cache"}
		}
		return out, nil
	}
	// Checked before any lookup starts, so an error leaves none running.
	for _, n := range nodes {
		if n.Ref == "" {
			return nil, fmt.Errorf("plan %s: node has no registry reference", n.ID)
		}
	}
	var rec *record
	if opts.CacheFile != "" {
		r, err := readRecord(opts.CacheFile)
		if err != nil {
			return nil, err
		}
		rec = r
	}
	g, gctx := errgroup.WithContext(ctx)
	ro := opts.registry()
	session, err := ro.Session(gctx)
	if err != nil {
		return nil, err
	}
	l := &lookup{reg: ro, remote: session, rec: rec}
	learned := make([]*RecordEntry, len(nodes))
	limit := opts.Concurrency
	if limit <= 0 {
		limit = 8
	}
	g.SetLimit(limit)
	for i, n := range nodes {
		g.Go(func() error {
			d, e, err := l.decide(gctx, n)
			if err != nil {
				return fmt.Errorf("plan %s: %w", n.ID, err)
			}
			out[i], learned[i] = d, e
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if rec != nil {
		// Remember what the registry holds so the next plan needs only a HEAD.
		updates := map[string]RecordEntry{}
		for i, e := range learned {
			if e != nil {
				key, err := recordKey(nodes[i].Ref)
				if err != nil {
					return nil, err
				}
				if old, ok := rec.Images[key]; !ok || old != *e {
					updates[key] = *e
				}
			}
		}
		if len(updates) > 0 {
			if err := updateRecord(opts.CacheFile, updates); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// digestString is the form a digest takes in the image label and the record.
func digestString(d hash.Digest) string { return string(d) }
