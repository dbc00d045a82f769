// Package affected compares two evaluated revisions of a workspace: which
// images' input digests differ, why, and whether their versions follow
// the policy (policy.go). Both revisions are loaded, graphed and hashed in
// full, so a change reaches an image through any input the hasher sees
// (a loaded .star file, a shared context, a .dockerignore, a build arg)
// and an edit that changes no input (whitespace in IMAGE.star) reaches none.
package affected

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/hash"
	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/vcs"
)

// Source is one revision to evaluate.
type Source struct {
	Name string // shown to users: "base 1a2b3c4d5e6f", "working tree"
	// Root is the workspace directory on disk for the working tree (the
	// hasher may use its stat cache there), "" for a git revision.
	Root string
	FS   fs.FS // the workspace tree; nil means os.DirFS(Root)
	// Registry overrides the workspace registry, as for build.
	Registry string
	// CacheFile is the hasher's stat cache (working tree only).
	CacheFile string
}

// Revision is an evaluated revision. Graph is nil when the workspace
// loads but its references do not resolve (GraphErr says why); then
// Workspace is still set, so presubmit can name dangling references.
type Revision struct {
	Name      string
	Workspace *load.Workspace
	Graph     *graph.Graph
	GraphErr  error
	Digests   map[graph.NodeID]hash.NodeDigest
}

// Evaluate loads, graphs and hashes one revision (every node). A
// workspace that does not load is an error (a *load.Error or
// load.ErrorList); a graph that does not build is recorded in
// Revision.GraphErr.
func Evaluate(ctx context.Context, src Source) (*Revision, error) {
	rev, err := loadRevision(ctx, src)
	if err != nil || rev.Graph == nil {
		return rev, err
	}
	return rev, rev.hash(ctx, src, nil)
}

func loadRevision(ctx context.Context, src Source) (*Revision, error) {
	ws, err := load.Load(ctx, load.Options{Root: src.Root, FS: src.FS, Registry: src.Registry})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", src.Name, err)
	}
	rev := &Revision{Name: src.Name, Workspace: ws, Digests: map[graph.NodeID]hash.NodeDigest{}}
	g, err := graph.Build(ws)
	if err != nil {
		rev.GraphErr = err
		return rev, nil
	}
	rev.Graph = g
	return rev, nil
}

// hash computes the digests of ids and their dependencies (nil: all).
func (rev *Revision) hash(ctx context.Context, src Source, ids []graph.NodeID) error {
	if ids != nil && len(ids) == 0 {
		return nil
	}
	h, err := hash.New(src.Root, src.FS, hash.Options{CacheFile: src.CacheFile})
	if err != nil {
		return fmt.Errorf("hash %s: %w", src.Name, err)
	}
	d, err := h.Nodes(ctx, rev.Graph, ids)
	if cerr := h.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("hash %s: %w", src.Name, err)
	}
	rev.Digests = d
	return nil
}

// candidates are the head nodes whose digest can differ from base: new
// nodes, nodes whose resolved declaration or edges differ, nodes with a
// changed file among their inputs (context directory, Dockerfile, its
// .dockerignore, prebuild sources), and everything built on those. Only
// they are hashed; the digests then decide. Paths only prune here: a
// symlink could make a file outside those paths an input, so a tree with
// symlinks gets every node hashed (all == true).
func candidates(base, head *Revision, changes []vcs.Change, all bool) []graph.NodeID {
	if all {
		return nil
	}
	var seeds []graph.NodeID
	for _, n := range head.Graph.Nodes {
		bn, ok := base.Graph.Node(n.ID)
		if !ok || !reflect.DeepEqual(bn.Decl, n.Decl) || !reflect.DeepEqual(edges(bn), edges(n)) || touches(n, changes) {
			seeds = append(seeds, n.ID)
		}
	}
	set := map[graph.NodeID]bool{}
	for _, id := range seeds {
		set[id] = true
	}
	for _, id := range head.Graph.ReverseDeps(seeds) {
		set[id] = true
	}
	out := make([]graph.NodeID, 0, len(set))
	for _, n := range head.Graph.Nodes {
		if set[n.ID] {
			out = append(out, n.ID)
		}
	}
	return out
}

func edges(n *graph.Node) []graph.Edge {
	out := make([]graph.Edge, len(n.Deps))
	for i, e := range n.Deps {
		out[i] = graph.Edge{To: e.To, Kind: e.Kind, Arg: e.Arg}
	}
	return out
}

func touches(n *graph.Node, changes []vcs.Change) bool {
	for _, c := range changes {
		p := c.Path
		if within(p, n.Decl.Context) || p == n.Decl.Dockerfile || p == n.Decl.Dockerfile+".dockerignore" {
			return true
		}
		for _, pb := range n.Decl.Prebuild {
			for _, s := range pb.Srcs {
				if p == s {
					return true
				}
			}
		}
	}
	return false
}

// EvaluateBoth evaluates base and head concurrently, hashing every node.
func EvaluateBoth(ctx context.Context, base, head Source) (*Revision, *Revision, error) {
	var b, h *Revision
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() (err error) { b, err = Evaluate(ctx, base); return })
	eg.Go(func() (err error) { h, err = Evaluate(ctx, head); return })
	if err := eg.Wait(); err != nil {
		return nil, nil, err
	}
	return b, h, nil
}

// Image is one affected image.
type Image struct {
	Label label.Label `json:"label"`
	// Direct is true when the image's own inputs changed, false when it
	// is affected only through images it builds on.
	Direct  bool     `json:"direct"`
	New     bool     `json:"new,omitempty"` // absent in base
	Reasons []string `json:"reasons"`
	// Platforms lists the affected nodes' platforms.
	Platforms   []string `json:"platforms"`
	File        string   `json:"file"` // IMAGE.star in head
	Version     string   `json:"version"`
	BaseVersion string   `json:"base_version,omitempty"`
}

// Result is the comparison of two revisions.
type Result struct {
	Base     string        `json:"base"`
	Head     string        `json:"head"`
	Changed  []vcs.Change  `json:"changed_files"`
	Affected []Image       `json:"affected"`
	Removed  []label.Label `json:"removed,omitempty"` // images in base, gone in head
	// nodes: per affected node, its reasons (for tests and policy).
	nodes map[graph.NodeID][]string
}

// Labels lists the affected labels.
func (r *Result) Labels() []label.Label {
	out := make([]label.Label, len(r.Affected))
	for i, a := range r.Affected {
		out[i] = a.Label
	}
	return out
}

// Find returns the affected entry for l.
func (r *Result) Find(l label.Label) (Image, bool) {
	for _, a := range r.Affected {
		if a.Label == l {
			return a, true
		}
	}
	return Image{}, false
}

// ErrNoGraph is returned by Compare when head's references do not
// resolve; presubmit turns the dangling ones into violations.
var ErrNoGraph = errors.New("head does not build a graph")

// Compare finds the affected images of head relative to base. changes is
// the changed-file list between them (workspace-relative), used only to
// explain digest differences, never to decide them.
func Compare(base, head *Revision, changes []vcs.Change) (*Result, error) {
	if base.Graph == nil {
		return nil, fmt.Errorf("%s: %w", base.Name, base.GraphErr)
	}
	if head.Graph == nil {
		return nil, fmt.Errorf("%s: %w: %w", head.Name, ErrNoGraph, head.GraphErr)
	}
	res := &Result{Base: base.Name, Head: head.Name, Changed: changes, nodes: map[graph.NodeID][]string{}}
	if res.Changed == nil {
		res.Changed = []vcs.Change{}
	}
	changed := map[string]bool{}
	for _, c := range changes {
		changed[c.Path] = true
	}
	ex := explainer{base: base, head: head, changed: changed, changes: changes}
	ex.index()

	// Parents come first in g.Nodes, so a parent's verdict is known when
	// its children are examined.
	for _, n := range head.Graph.Nodes {
		if reasons := ex.node(n, res.nodes); len(reasons) > 0 {
			res.nodes[n.ID] = reasons
		}
	}
	// Everything that builds on an affected node is affected, whether or
	// not the hasher folds that edge in.
	var ids []graph.NodeID
	for id := range res.nodes {
		ids = append(ids, id)
	}
	for _, id := range head.Graph.ReverseDeps(ids) {
		if _, ok := res.nodes[id]; !ok {
			n, _ := head.Graph.Node(id)
			for _, e := range n.Deps {
				if _, ok := res.nodes[e.To]; ok {
					res.nodes[id] = append(res.nodes[id], fmt.Sprintf("parent %s changed", e.To.Label))
				}
			}
		}
	}
	res.Affected = group(base, head, res.nodes)
	for _, img := range base.Workspace.Images {
		if _, ok := head.Workspace.Image(img.Label); !ok {
			res.Removed = append(res.Removed, img.Label)
		}
	}
	return res, nil
}

// group folds node reasons into one entry per label.
func group(base, head *Revision, nodes map[graph.NodeID][]string) []Image {
	byLabel := map[label.Label]*Image{}
	for id, reasons := range nodes {
		img, ok := byLabel[id.Label]
		if !ok {
			decl, _ := head.Workspace.Image(id.Label)
			img = &Image{Label: id.Label, File: decl.File, Version: decl.Version}
			if b, ok := base.Workspace.Image(id.Label); ok {
				img.BaseVersion = b.Version
			} else {
				img.New = true
			}
			byLabel[id.Label] = img
		}
		img.Platforms = append(img.Platforms, id.Platform.String())
		img.Reasons = append(img.Reasons, reasons...)
	}
	out := make([]Image, 0, len(byLabel))
	for _, img := range byLabel {
		sort.Strings(img.Platforms)
		img.Reasons = uniq(img.Reasons)
		for _, r := range img.Reasons {
			if !strings.HasPrefix(r, "parent ") {
				img.Direct = true
			}
		}
		out = append(out, *img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out
}

func uniq(xs []string) []string {
	sort.Strings(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// explainer turns digest differences into reasons.
type explainer struct {
	base, head *Revision
	changed    map[string]bool
	changes    []vcs.Change
	// libsOfImages: every .star file some image loads; a changed .star
	// file outside this set and not an IMAGE.star can only reach an image
	// through WORKSPACE.star.
	libsOfImages map[string]bool
}

func (x *explainer) index() {
	x.libsOfImages = map[string]bool{}
	for _, ws := range []*load.Workspace{x.base.Workspace, x.head.Workspace} {
		for _, img := range ws.Images {
			x.libsOfImages[img.File] = true
			for _, f := range img.Loads {
				x.libsOfImages[f] = true
			}
		}
	}
}

// node returns why n is affected, or nil when it is not. affected holds
// the verdicts of the nodes before n in topological order.
func (x *explainer) node(n *graph.Node, affected map[graph.NodeID][]string) []string {
	bn, ok := x.base.Graph.Node(n.ID)
	if !ok {
		if _, had := x.base.Workspace.Image(n.ID.Label); had {
			out := []string{"new platform " + n.ID.Platform.String()}
			for _, r := range x.part("declaration", n, nil, affected) {
				if r != "declaration changed" {
					out = append(out, r)
				}
			}
			return out
		}
		return []string{"new image (" + n.Image.File + ")"}
	}
	hd, okH := x.head.Digests[n.ID]
	bd, okB := x.base.Digests[n.ID]
	if !okH || !okB || hd.Digest == bd.Digest {
		// Not hashed: no input of it can differ (see candidates).
		return nil
	}
	var reasons []string
	parts := map[string]bool{}
	for k := range hd.Parts {
		parts[k] = true
	}
	for k := range bd.Parts {
		parts[k] = true
	}
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	explained := false
	for _, k := range keys {
		if hd.Parts[k] == bd.Parts[k] {
			continue
		}
		explained = true
		if k == "prebuild" && hd.Parts["declaration"] != bd.Parts["declaration"] && !x.srcsChanged(n) {
			continue // the prebuild declaration is part of the declaration, explained there
		}
		reasons = append(reasons, x.part(k, n, bn, affected)...)
	}
	if !explained {
		// The digests differ in something the parts do not show (the
		// hash schema, say): still affected, with an honest reason.
		reasons = append(reasons, "inputs changed")
	}
	return reasons
}

// part explains one differing digest part. It may return nil when the
// difference does not count: a parent whose own change did not count, or
// a context whose only changed file is the (inert) IMAGE.star.
func (x *explainer) part(k string, n, bn *graph.Node, affected map[graph.NodeID][]string) []string {
	switch {
	case k == "declaration":
		var out []string
		if x.changed[n.Image.File] {
			out = append(out, "changed: "+n.Image.File)
		}
		for _, f := range n.Image.Loads {
			if x.changed[f] {
				out = append(out, f+" changed")
			}
		}
		if x.changed[load.WorkspaceFile] {
			out = append(out, load.WorkspaceFile+" changed")
		}
		for _, c := range x.changes {
			if strings.HasSuffix(c.Path, ".star") && !x.libsOfImages[c.Path] && c.Path != load.WorkspaceFile && path.Base(c.Path) != load.ImageFile {
				out = append(out, c.Path+" changed")
			}
		}
		if len(out) == 0 {
			out = append(out, "declaration changed")
		}
		return out
	case k == "dockerfile":
		return []string{"changed: " + n.Decl.Dockerfile}
	case k == "context":
		var out []string
		for _, c := range x.changes {
			// IMAGE.star sits in the default context, but what it says is
			// the declaration part: a formatting-only edit must not count.
			if within(c.Path, n.Decl.Context) && c.Path != n.Image.File {
				out = append(out, "changed: "+c.Path)
			}
		}
		if len(out) == 0 && x.changed[n.Image.File] && within(n.Image.File, n.Decl.Context) {
			return nil
		}
		if len(out) == 0 {
			out = append(out, "context "+n.Decl.Context+" changed")
		}
		return out
	case k == "prebuild":
		var out []string
		for _, pb := range n.Decl.Prebuild {
			for _, src := range pb.Srcs {
				if x.changed[src] {
					out = append(out, "changed: "+src)
				}
			}
		}
		if len(out) == 0 {
			out = append(out, "prebuild changed")
		}
		return out
	case k == "base":
		if n.Decl.Base.Kind == load.BaseInTree {
			to := graph.NodeID{Label: n.Decl.Base.Label, Platform: n.ID.Platform}
			if _, ok := affected[to]; ok {
				return []string{fmt.Sprintf("parent %s changed", to.Label)}
			}
			if bn.Decl.Base != n.Decl.Base {
				return []string{fmt.Sprintf("base changed: %s -> %s", bn.Decl.Base, n.Decl.Base)}
			}
			return nil // the parent's digest moved for a reason that does not count
		}
		return []string{fmt.Sprintf("base changed: %s -> %s", bn.Decl.Base, n.Decl.Base)}
	case strings.HasPrefix(k, "image_arg:"):
		arg := strings.TrimPrefix(k, "image_arg:")
		for _, e := range n.Deps {
			if e.Kind == graph.EdgeImageArg && e.Arg == arg {
				if _, ok := affected[e.To]; ok {
					return []string{fmt.Sprintf("parent %s changed", e.To.Label)}
				}
				if old, ok := bn.Decl.ImageArgs[arg]; !ok || old.Label != e.To.Label {
					return []string{fmt.Sprintf("image_args %s now %s", arg, e.To.Label)}
				}
				return nil
			}
		}
		return []string{fmt.Sprintf("image_args %s changed", arg)}
	}
	return []string{k + " changed"}
}

func (x *explainer) srcsChanged(n *graph.Node) bool {
	for _, pb := range n.Decl.Prebuild {
		for _, src := range pb.Srcs {
			if x.changed[src] {
				return true
			}
		}
	}
	return false
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return dir == "." || dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}

// Options say what Run compares.
type Options struct {
	Dir      string // the workspace root on disk, inside a git work tree
	Base     string // revision
	Head     string // revision; "" for the working tree
	Registry string
	// CacheFile is the hasher's stat cache for the working tree.
	CacheFile string
	// Full hashes every node of both revisions instead of only those
	// whose inputs can differ (slower; the result is the same).
	Full bool
}

// Comparison is Run's outcome. Result is nil when head's graph does not
// build (Head.GraphErr); presubmit can still report why.
type Comparison struct {
	Base, Head *Revision
	Result     *Result
}

// Run resolves the revisions, evaluates both (git revisions through
// vcs.TreeFS, without touching the working tree) and compares them.
// Unknown revisions give a *vcs.RevError; a directory outside git
// vcs.ErrNotRepo.
func Run(ctx context.Context, opts Options) (*Comparison, error) {
	repo, err := vcs.Open(ctx, opts.Dir)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	baseID, err := repo.Resolve(ctx, opts.Base)
	if err != nil {
		return nil, err
	}
	baseSrc := Source{Name: "base " + shortID(baseID), Registry: opts.Registry}
	headSrc := Source{Name: "working tree", Root: opts.Dir, Registry: opts.Registry, CacheFile: opts.CacheFile}
	headID := ""
	if opts.Head != "" {
		if headID, err = repo.Resolve(ctx, opts.Head); err != nil {
			return nil, err
		}
		headSrc = Source{Name: "head " + shortID(headID), Registry: opts.Registry}
	}
	var changes []vcs.Change
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		t, err := repo.TreeFS(ectx, baseID)
		baseSrc.FS = t
		return err
	})
	if headID != "" {
		eg.Go(func() error {
			t, err := repo.TreeFS(ectx, headID)
			headSrc.FS = t
			return err
		})
	}
	eg.Go(func() (err error) { changes, err = repo.Changed(ectx, baseID, headID); return })
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	var b, h *Revision
	eg, ectx = errgroup.WithContext(ctx)
	eg.Go(func() (err error) { b, err = loadRevision(ectx, baseSrc); return })
	eg.Go(func() (err error) { h, err = loadRevision(ectx, headSrc); return })
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	cmp := &Comparison{Base: b, Head: h}
	if h.Graph == nil {
		return cmp, nil
	}
	if b.Graph == nil {
		return nil, fmt.Errorf("%s: %w", b.Name, b.GraphErr)
	}
	symlinks := baseSrc.FS.(*vcs.TreeFS).HasSymlinks()
	if t, ok := headSrc.FS.(*vcs.TreeFS); ok && t.HasSymlinks() {
		symlinks = true
	}
	ids := candidates(b, h, changes, symlinks || opts.Full)
	var baseIDs []graph.NodeID
	if ids != nil {
		baseIDs = []graph.NodeID{}
		for _, id := range ids {
			if _, ok := b.Graph.Node(id); ok {
				baseIDs = append(baseIDs, id)
			}
		}
		// Removed images too: presubmit compares a renamed image's content.
		for _, n := range b.Graph.Nodes {
			if _, ok := h.Workspace.Image(n.ID.Label); !ok {
				baseIDs = append(baseIDs, n.ID)
			}
		}
	}
	eg, ectx = errgroup.WithContext(ctx)
	eg.Go(func() error { return b.hash(ectx, baseSrc, baseIDs) })
	eg.Go(func() error { return h.hash(ectx, headSrc, ids) })
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	if cmp.Result, err = Compare(b, h, changes); err != nil {
		return nil, err
	}
	return cmp, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
