// Package hash computes the input digest of every (image, platform) node:
// a sha256 over everything that can change the node's result — its
// resolved declaration, Dockerfile, build context after .dockerignore,
// prebuild inputs, base and image_args targets (their own input digests,
// so a change ripples down the graph) and a schema version. File contents
// are hashed in parallel and remembered in a stat cache, so an unchanged
// workspace costs one stat call per file.
package hash

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sync/errgroup"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/load"
)

// schemaVersion is folded into every digest; change it whenever what a
// digest covers, or how, changes, so old digests stop matching.
const schemaVersion = "imgraph node digest v2"

// Digest is "sha256:<hex>".
type Digest string

func digestOf(sum [32]byte) Digest { return Digest("sha256:" + hex.EncodeToString(sum[:])) }

func digestBytes(b []byte) Digest { return digestOf(sha256.Sum256(b)) }

// Options tune a Hasher.
type Options struct {
	// CacheFile is the persistent stat cache; "" keeps it in memory only.
	CacheFile string
	// Workers bounds parallel file hashing; 0 means runtime.GOMAXPROCS(0).
	Workers int
	// GoVersion is the host Go toolchain that compiles go_binary prebuilds
	// ("go1.26.8"); a toolchain upgrade changes the binaries, so it is an
	// input of every node with a go_binary step.
	GoVersion string
}

// NodeDigest is a node's input digest and the digests it is made of.
type NodeDigest struct {
	Digest Digest
	// Parts: "schema", "declaration", "dockerfile", "context", "prebuild",
	// "base" and "image_arg:NAME" per image_args entry. Comparing two
	// NodeDigests part by part says why a node changed.
	Parts map[string]Digest
}

// Stats counts the work a Hasher did.
type Stats struct {
	Trees       int   // distinct build contexts walked
	CacheHits   int   // file digests answered by the stat cache
	FilesHashed int   // of those, read and hashed
	BytesHashed int64 // bytes read for them
}

// Hasher hashes the nodes of one workspace as it is at one moment: file and
// context digests are computed once and reused by later Nodes calls, so
// make a new Hasher after the tree changes.
type Hasher struct {
	src       source
	workers   int
	goVersion string
	cache     *statCache // nil: no stat cache (an fs.FS without a root)

	call    sync.Mutex             // one Nodes call at a time
	mu      sync.Mutex             // guards files, pending, trees
	files   map[string]*fileTask   // root-relative path → content digest
	pending []*fileTask            // files to read in the current Nodes call
	trees   map[string]*tree       // dir + "\x00" + patterns → context
	ignores map[string][]string    // Dockerfile + "\x00" + context → patterns
	lstats  map[string]lstatResult // memo for resolving paths: many nodes share directories
	nodes   map[graph.NodeID]NodeDigest

	hits, hashed atomic.Int64
	bytes        atomic.Int64

	// statHook, when set (by tests), may rewrite stat data before use.
	statHook func(rel string, st *fileStat)
}

// fileTask is one file's content digest, shared by every context,
// Dockerfile or prebuild that includes the file.
type fileTask struct {
	rel  string
	st   fileStat
	sum  [32]byte
	done bool
}

// New opens a Hasher over fsys. root is the absolute workspace root; with
// a root, files are read from the real file system below it and the stat
// cache is used. With root == "" (a git revision, say) everything is read
// through fsys and every file is hashed.
func New(root string, fsys fs.FS, opts Options) (*Hasher, error) {
	h := &Hasher{
		workers:   opts.Workers,
		goVersion: opts.GoVersion,
		files:     map[string]*fileTask{},
		trees:     map[string]*tree{},
		lstats:    map[string]lstatResult{},
		nodes:     map[graph.NodeID]NodeDigest{},
	}
	if h.workers <= 0 {
		h.workers = runtime.GOMAXPROCS(0)
	}
	if root == "" {
		if fsys == nil {
			return nil, errors.New("hash: neither a root nor a file system given")
		}
		h.src = fsSource{fsys: fsys}
		return h, nil
	}
	h.src = newOSSource(root)
	c, err := openStatCache(opts.CacheFile)
	if err != nil {
		return nil, err
	}
	h.cache = c
	return h, nil
}

// Close writes the stat cache (atomically: temp file and rename).
func (h *Hasher) Close() error {
	if h.cache == nil {
		return nil
	}
	return h.cache.close()
}

// Stats reports the work done so far.
func (h *Hasher) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{
		Trees:       len(h.trees),
		CacheHits:   int(h.hits.Load()),
		FilesHashed: int(h.hashed.Load()),
		BytesHashed: h.bytes.Load(),
	}
}

// file returns the task for root-relative rel with stat data st, answering
// from the stat cache when it can and queueing a read otherwise.
// The caller has applied statHook.
func (h *Hasher) file(rel string, st fileStat) *fileTask {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.files[rel]; ok {
		return t
	}
	t := &fileTask{rel: rel, st: st}
	h.files[rel] = t
	if sum, ok := h.cached(rel, st); ok {
		t.sum, t.done = sum, true
		return t
	}
	h.pending = append(h.pending, t)
	return t
}

// cached answers from the stat cache.
func (h *Hasher) cached(rel string, st fileStat) ([32]byte, bool) {
	if h.cache == nil || !st.cacheable {
		return [32]byte{}, false
	}
	sum, ok := h.cache.lookup(rel, st)
	if ok {
		h.hits.Add(1)
	}
	return sum, ok
}

// Nodes returns the input digest of each of ids and of everything they
// depend on (nil ids: every node of g). Each distinct build context is
// walked once, however many nodes and platforms share it.
func (h *Hasher) Nodes(ctx context.Context, g *graph.Graph, ids []graph.NodeID) (map[graph.NodeID]NodeDigest, error) {
	h.call.Lock()
	defer h.call.Unlock()
	var order []*graph.Node
	if ids == nil {
		order = g.Nodes
	} else {
		for _, id := range g.Closure(ids) {
			n, ok := g.Node(id)
			if !ok {
				return nil, fmt.Errorf("hash: unknown node %s", id)
			}
			order = append(order, n)
		}
	}
	var todo []*graph.Node
	for _, n := range order {
		if _, done := h.nodes[n.ID]; !done {
			todo = append(todo, n)
		}
	}
	// Collect every input (contexts, Dockerfiles, prebuild sources) once
	// per distinct set of paths: an image's platforms share them.
	byKey := map[string]*nodeInputs{}
	var distinct []*graph.Node
	var distinctKeys []string
	keys := make([]string, len(todo))
	for i, n := range todo {
		k := n.Decl.Dockerfile + "\x00" + n.Decl.Context
		for _, pb := range n.Decl.Prebuild {
			k += "\x00" + strings.Join(pb.Srcs, "\x00")
		}
		keys[i] = k
		if _, ok := byKey[k]; !ok {
			byKey[k] = nil
			distinct = append(distinct, n)
			distinctKeys = append(distinctKeys, k)
		}
	}
	collected := make([]*nodeInputs, len(distinct))
	if err := h.run(ctx, len(distinct), func(i int) error {
		in, err := h.collect(distinct[i])
		if err != nil {
			return fmt.Errorf("hash %s: %w", distinct[i].ID, err)
		}
		collected[i] = in
		return nil
	}); err != nil {
		return nil, err
	}
	var walks []*tree
	for i, k := range distinctKeys {
		byKey[k] = collected[i]
		if collected[i].newTree {
			walks = append(walks, collected[i].tree)
		}
	}
	if err := h.run(ctx, len(walks), func(i int) error {
		if err := h.walk(walks[i]); err != nil {
			return fmt.Errorf("hash context %s: %w", walks[i].dir, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	h.mu.Lock()
	pending := h.pending
	h.pending = nil
	h.mu.Unlock()
	if err := h.hashFiles(ctx, pending); err != nil {
		return nil, err
	}
	// Each node's own parts in parallel; then, parents first (g.Nodes is
	// topological), fold in the digests of what it builds on.
	own := make([]map[string]Digest, len(todo))
	if err := h.run(ctx, len(todo), func(i int) error {
		var err error
		if own[i], err = h.ownParts(todo[i], byKey[keys[i]]); err != nil {
			return fmt.Errorf("hash %s: %w", todo[i].ID, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for i, n := range todo {
		d, err := h.combine(n, own[i])
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", n.ID, err)
		}
		h.nodes[n.ID] = d
	}
	out := make(map[graph.NodeID]NodeDigest, len(order))
	for _, n := range order {
		out[n.ID] = h.nodes[n.ID]
	}
	return out, nil
}

type nodeInputs struct {
	dockerfile *fileTask
	tree       *tree
	srcs       []*fileTask // go_binary sources, in Prebuild/Srcs order
	newTree    bool        // this call created tree: it must be walked
}

// collect resolves a node's input paths inside the workspace, registers the
// files it needs and finds (or creates) its context tree.
func (h *Hasher) collect(n *graph.Node) (*nodeInputs, error) {
	in := &nodeInputs{}
	var err error
	if in.dockerfile, err = h.resolvedFile(n.Decl.Dockerfile); err != nil {
		return nil, fmt.Errorf("Dockerfile: %w", err)
	}
	for _, pb := range n.Decl.Prebuild {
		for _, s := range pb.Srcs {
			t, err := h.resolvedFile(s)
			if err != nil {
				return nil, fmt.Errorf("%s srcs: %w", pb.Kind, err)
			}
			in.srcs = append(in.srcs, t)
		}
	}
	dir, err := resolveInside(h.memoSource(), n.Decl.Context)
	if err != nil {
		return nil, fmt.Errorf("context: %w", err)
	}
	excludes, err := h.ignorePatterns(n.Decl.Dockerfile, dir)
	if err != nil {
		return nil, err
	}
	key := dir + "\x00" + fmt.Sprintf("%q", excludes)
	h.mu.Lock()
	t, ok := h.trees[key]
	if !ok {
		t = &tree{dir: dir, excludes: excludes}
		h.trees[key] = t
	}
	h.mu.Unlock()
	in.tree, in.newTree = t, !ok
	return in, nil
}

// ignorePatterns reads the ignore file BuildKit would use: <Dockerfile>.dockerignore
// beside the Dockerfile when it exists, else .dockerignore at the context root.
func (h *Hasher) ignorePatterns(dockerfile, contextDir string) ([]string, error) {
	for _, p := range []string{dockerfile + ".dockerignore", path.Join(contextDir, ".dockerignore")} {
		rp, err := resolveInside(h.memoSource(), p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		data, err := h.readAll(rp)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		pats, err := ignorefile.ReadAll(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", p, err)
		}
		return pats, nil
	}
	return nil, nil
}

// resolvedFile registers a single file (a Dockerfile, a prebuild source)
// after resolving symlinks inside the workspace.
func (h *Hasher) resolvedFile(p string) (*fileTask, error) {
	rp, err := resolveInside(h.memoSource(), p)
	if err != nil {
		return nil, err
	}
	st, err := h.memoSource().lstat(rp)
	if err != nil {
		return nil, err
	}
	if !st.mode.IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	if h.statHook != nil {
		h.statHook(rp, &st)
	}
	return h.file(rp, st), nil
}

func (h *Hasher) readAll(p string) ([]byte, error) {
	f, err := h.src.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

type lstatResult struct {
	st  fileStat
	err error
}

// memoSource is h.src with lstat answers remembered: resolving the paths
// of 5,000 nodes would otherwise stat the same directories over and over.
func (h *Hasher) memoSource() source { return memoSource{h} }

type memoSource struct{ h *Hasher }

func (m memoSource) lstat(p string) (fileStat, error) {
	m.h.mu.Lock()
	r, ok := m.h.lstats[p]
	m.h.mu.Unlock()
	if !ok {
		r.st, r.err = m.h.src.lstat(p)
		m.h.mu.Lock()
		m.h.lstats[p] = r
		m.h.mu.Unlock()
	}
	return r.st, r.err
}

func (m memoSource) readDir(dir string) ([]dirent, error) { return m.h.src.readDir(dir) }
func (m memoSource) readlink(p string) (string, error)    { return m.h.src.readlink(p) }
func (m memoSource) open(p string) (io.ReadCloser, error) { return m.h.src.open(p) }

// run calls f(0..n-1) on h.workers goroutines.
func (h *Hasher) run(ctx context.Context, n int, f func(i int) error) error {
	if n == 0 {
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for w := 0; w < min(h.workers, n); w++ {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return nil
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := f(i); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// hashFiles reads and hashes files on h.workers goroutines, each with its
// own sha256 state and buffer.
func (h *Hasher) hashFiles(ctx context.Context, files []*fileTask) error {
	// Largest first, so one big file does not finish alone at the end.
	sort.Slice(files, func(i, j int) bool { return files[i].st.size > files[j].st.size })
	type state struct {
		hs  hash.Hash
		buf []byte
	}
	pool := sync.Pool{New: func() any { return &state{hs: sha256.New(), buf: make([]byte, 128<<10)} }}
	return h.run(ctx, len(files), func(i int) error {
		t := files[i]
		s := pool.Get().(*state)
		defer pool.Put(s)
		s.hs.Reset()
		var n int64
		var err error
		if fh, ok := h.src.(fileHasher); ok {
			n, err = fh.hashFile(t.rel, s.hs, s.buf)
		} else {
			var f io.ReadCloser
			if f, err = h.src.open(t.rel); err == nil {
				n, err = io.CopyBuffer(s.hs, readerOnly{f}, s.buf)
				f.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("hash %s: %w", t.rel, err)
		}
		s.hs.Sum(t.sum[:0])
		t.done = true
		h.hashed.Add(1)
		h.bytes.Add(n)
		if h.cache != nil && t.st.cacheable && n == t.st.size {
			h.cache.store(t.rel, t.st, t.sum)
		}
		return nil
	})
}

// fileHasher is a source with a faster way to stream one file's content.
type fileHasher interface {
	hashFile(p string, w io.Writer, buf []byte) (int64, error)
}

// readerOnly hides WriterTo/ReaderFrom so io.CopyBuffer uses our buffer.
type readerOnly struct{ io.Reader }

// ownParts computes the parts of a node that do not depend on other nodes.
func (h *Hasher) ownParts(n *graph.Node, in *nodeInputs) (map[string]Digest, error) {
	decl, err := json.Marshal(n.Decl)
	if err != nil {
		return nil, fmt.Errorf("encode declaration: %w", err)
	}
	parts := map[string]Digest{
		"schema":      digestBytes([]byte(schemaVersion)),
		"declaration": digestBytes(decl),
		"dockerfile":  digestOf(in.dockerfile.sum),
		"context":     digestOf(in.tree.digest()),
	}
	// Prebuild: the declarations (in the declaration part too) plus each
	// source file's content.
	pb := sha256.New()
	pbDecl, err := json.Marshal(n.Decl.Prebuild)
	if err != nil {
		return nil, fmt.Errorf("encode prebuild: %w", err)
	}
	pb.Write(pbDecl)
	for _, step := range n.Decl.Prebuild {
		if step.Kind == "go_binary" {
			pb.Write([]byte("\x00go toolchain " + h.goVersion))
			break
		}
	}
	for _, t := range in.srcs {
		var buf []byte
		buf = binary.AppendUvarint(buf, uint64(len(t.rel)))
		buf = append(buf, t.rel...)
		pb.Write(append(buf, t.sum[:]...))
	}
	parts["prebuild"] = digestOf([32]byte(pb.Sum(nil)))
	switch b := n.Decl.Base; b.Kind {
	case load.BaseScratch:
		parts["base"] = digestBytes([]byte("scratch"))
	case load.BaseExternal:
		// The reference as written; a pinned one carries its digest.
		parts["base"] = digestBytes([]byte("external\x00" + b.Ref))
	}
	return parts, nil
}

// combine adds the digests of the nodes n builds on (already in h.nodes)
// and hashes all parts.
func (h *Hasher) combine(n *graph.Node, parts map[string]Digest) (NodeDigest, error) {
	for _, e := range n.Deps {
		d, ok := h.nodes[e.To]
		if !ok {
			return NodeDigest{}, fmt.Errorf("internal error: %s hashed before its dependency %s", n.ID, e.To)
		}
		switch e.Kind {
		case graph.EdgeBase:
			parts["base"] = d.Digest
		case graph.EdgeImageArg:
			parts["image_arg:"+e.Arg] = d.Digest
		}
	}
	if _, ok := parts["base"]; !ok {
		return NodeDigest{}, fmt.Errorf("internal error: in-tree base %s has no edge", n.Decl.Base.Label)
	}
	names := make([]string, 0, len(parts))
	for k := range parts {
		names = append(names, k)
	}
	sort.Strings(names)
	all := sha256.New()
	for _, k := range names {
		fmt.Fprintf(all, "%s\x00%s\n", k, parts[k])
	}
	return NodeDigest{Digest: digestOf([32]byte(all.Sum(nil))), Parts: parts}, nil
}
