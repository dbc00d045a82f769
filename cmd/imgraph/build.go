package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/imgraph/imgraph/engine/exec"
	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/hash"
	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/naming"
	"github.com/imgraph/imgraph/engine/plan"
	"github.com/imgraph/imgraph/engine/platform"
	"github.com/imgraph/imgraph/engine/publish"
)

// localRegistry is the pseudo registry host naming images in the local OCI
// layout when no registry is configured.
const localRegistry = "imgraph.local"

// localStackSocket is where hack/local-stack.sh starts buildkitd.
const localStackSocket = "unix:///var/tmp/imgraph-stack/buildkitd.sock"

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build TARGETS and everything they build on; with --push also publish manifest lists",
		ArgsUsage: "[TARGETS]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "push", Usage: "publish the manifest list of every selected image (per-platform images are always pushed to the registry)"},
			&cli.StringSliceFlag{Name: "platform", Usage: "build only these platforms (repeatable)"},
			&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: 4, Usage: "nodes built in parallel"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan (what would build and why) without building"},
			&cli.BoolFlag{Name: "no-cache", Usage: "rebuild every node, ignoring the registry record and BuildKit's cache"},
			&cli.BoolFlag{Name: "keep-going", Value: true, Usage: "after a failure, finish the nodes that do not depend on it (--keep-going=false cancels everything)"},
			&cli.BoolFlag{Name: "provenance", Usage: "attach a SLSA provenance attestation to BuildKit-built images (off: per-platform tags stay plain image manifests)"},
			&cli.BoolFlag{Name: "allow-missing-platforms", Usage: "publish manifest lists even when some declared platforms were not built (says which)"},
			&cli.StringFlag{Name: "progress", Value: "auto", Usage: "auto, plain, tty, rawjson or quiet"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "summary format: text or json"},
			&cli.StringFlag{Name: "metadata-file", Usage: "also write the JSON summary to this file"},
			&cli.StringFlag{Name: "buildkit-addr", Usage: "buildkitd address (default: $BUILDKIT_HOST, WORKSPACE.star buildkit(), the local stack)"},
		},
		Action: runBuild,
	}
}

// nodeRun is the bookkeeping of one node during a build.
type nodeRun struct {
	id       graph.NodeID
	node     *graph.Node
	ref      string
	digest   hash.NodeDigest
	executor string // name of the executor, or "" when none can build it
	why      string // when there is none, why
	decision plan.Decision
	result   exec.Result
	outcome  exec.Outcome
	took     time.Duration
	solve    time.Duration
}

type buildState struct {
	layout   string    // local OCI layout when no registry is configured
	busy     busyClock // wall time with at least one solve or prebuild step running
	c        *cli.Context
	g        *graph.Graph
	root     string
	registry string
	runs     map[graph.NodeID]*nodeRun
	order    []graph.NodeID
	mu       sync.Mutex
}

func runBuild(c *cli.Context) error {
	switch c.String("progress") {
	case "auto", "plain", "tty", "rawjson", "quiet":
	default:
		return usageErr(fmt.Errorf("--progress %q: want auto, plain, tty, rawjson or quiet", c.String("progress")))
	}
	if o := c.String("output"); o != "text" && o != "json" {
		return usageErr(fmt.Errorf("--output %q: want text or json", o))
	}
	if j := c.Int("jobs"); j < 1 {
		return usageErr(fmt.Errorf("--jobs %d: want at least 1 (nodes built at once)", j))
	}
	start := time.Now()
	g, err := loadGraph(c)
	if err != nil {
		return err
	}
	ids, err := selectTargets(g, c.Args().Slice())
	if err != nil {
		return err
	}
	if ps := c.StringSlice("platform"); len(ps) > 0 {
		ids, err = filterPlatforms(ids, ps)
		if err != nil {
			return err
		}
	}
	ids = g.Closure(ids)
	registry := g.Workspace.Registry
	layoutDir := ""
	if registry == "" {
		// No registry: images go into a local OCI layout and children read
		// their parents from it.
		if c.Bool("push") {
			return usageErr(fmt.Errorf("--push publishes manifest lists to a registry, and none is configured: set workspace(registry = ...) in WORKSPACE.star, pass --registry, or set $REGISTRY (for the local stack: --registry 127.0.0.1:5000)"))
		}
		registry = localRegistry
		layoutDir = filepath.Join(g.Workspace.Root, ".imgraph", "oci")
	}
	digests, err := hashNodes(c, g, ids)
	if err != nil {
		return failedErr(fmt.Errorf("hash inputs: %w", err))
	}
	bs := &buildState{c: c, g: g, root: g.Workspace.Root, registry: registry, layout: layoutDir, runs: map[graph.NodeID]*nodeRun{}, order: ids}
	var planNodes []plan.Node
	routes, err := routeNodes(c, g.Workspace, ids, layoutDir != "")
	if err != nil {
		return err
	}
	for _, id := range ids {
		n, _ := g.Node(id)
		r := &nodeRun{id: id, node: n, digest: digests[id], executor: routes[id].name, why: routes[id].why,
			ref: naming.PlatformRef(registry, n.Image.Repository, n.Image.Version, id.Platform)}
		bs.runs[id] = r
		if r.executor != "" {
			planNodes = append(planNodes, plan.Node{ID: id, Ref: r.ref, Digest: r.digest.Digest, Parts: r.digest.Parts})
		}
	}
	cacheDir := filepath.Join(bs.root, ".imgraph", "cache")
	var decisions []plan.Decision
	if layoutDir != "" {
		decisions, err = plan.PlanLayout(planNodes, layoutDir, c.Bool("no-cache"))
	} else {
		decisions, err = plan.Plan(c.Context, planNodes, plan.Options{NoCache: c.Bool("no-cache"), CacheFile: filepath.Join(cacheDir, "published.json")})
	}
	if err != nil {
		return failedErr(err)
	}
	for _, d := range decisions {
		bs.runs[d.ID].decision = d
	}
	if c.Bool("dry-run") {
		if err := printPlan(c.App.Writer, bs); err != nil {
			return err
		}
		noBuilderHint(c.App.ErrWriter, bs)
		return nil
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	execs := &executors{routes: routes}
	defer execs.close()

	pw, err := newProgress(ctx, c.String("progress"))
	if err != nil {
		return failedErr(err)
	}
	prebuilder := &exec.Prebuilder{Root: bs.root, CacheDir: filepath.Join(cacheDir, "prebuild")}
	task := func(ctx context.Context, id graph.NodeID) (exec.State, string, error) {
		if r := bs.runs[id]; r.executor == "" {
			return exec.StateNotBuilt, r.why, nil
		}
		return bs.buildNode(ctx, id, execs, prebuilder, pw)
	}
	// Every node goes through the scheduler, those nobody can build too:
	// it then skips their dependants rather than starting them against an
	// image that was never built (a dependency outside the scheduled set
	// counts as available).
	outcomes := exec.Schedule(ctx, g, ids, c.Int("jobs"), c.Bool("keep-going"), task)
	pw.close()
	for id, o := range outcomes {
		bs.runs[id].outcome = o
	}
	var lists []listResult
	if c.Bool("push") && ctx.Err() == nil {
		lists = bs.publishLists(ctx)
	}
	sum := bs.summary(lists, time.Since(start))
	if err := writeSummary(c, sum); err != nil {
		return failedErr(err)
	}
	noBuilderHint(c.App.ErrWriter, bs)
	if ctx.Err() != nil {
		return failedErr(fmt.Errorf("build interrupted; nothing was published for unfinished images"))
	}
	if layoutDir != "" && sum.Built+sum.UpToDate > 0 {
		fmt.Fprintf(c.App.ErrWriter, "no registry configured: the images are in the OCI layout %s, named %s/<repository>:<tag> (pass --registry to push them)\n", layoutDir, localRegistry)
	}
	if sum.Failed > 0 || sum.ListsFailed > 0 {
		return failedErr(fmt.Errorf("%d node(s) failed, %d manifest list(s) not published", sum.Failed, sum.ListsFailed))
	}
	return nil
}

func filterPlatforms(ids []graph.NodeID, ps []string) ([]graph.NodeID, error) {
	want := map[string]bool{}
	for _, s := range ps {
		p, err := platform.Parse(s)
		if err != nil {
			return nil, usageErr(fmt.Errorf("--platform: %v", err))
		}
		want[p.String()] = true
	}
	var out []graph.NodeID
	for _, id := range ids {
		if want[id.Platform.String()] {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, usageErr(fmt.Errorf("--platform %s: none of the selected images has that platform", strings.Join(ps, ", ")))
	}
	return out, nil
}

// buildNode runs one node: skip when the registry already holds its input
// digest, else prebuild, resolve build args from the parents' results,
// build and push.
func (bs *buildState) buildNode(ctx context.Context, id graph.NodeID, execs *executors, pb *exec.Prebuilder, pw *progress) (exec.State, string, error) {
	r := bs.runs[id]
	t0 := time.Now()
	defer func() { r.took = time.Since(t0) }()
	if !r.decision.Build {
		r.result = exec.Result{Digest: r.decision.ExistingDigest, Ref: r.ref}
		return exec.StateUpToDate, r.decision.Reason, nil
	}
	ex, err := execs.get(ctx, id)
	if err != nil {
		return "", "", err
	}
	decl := r.node.Decl
	done := bs.busy.start()
	extra, err := pb.Run(ctx, decl, id.Platform, string(r.digest.Parts["prebuild"]))
	done()
	if err != nil {
		return "", "", err
	}
	args := map[string]string{
		"REGISTRY":   bs.registry,
		"OS_VERSION": id.Platform.OSVersion,
	}
	for k, v := range decl.BuildArgs {
		args[k] = v
	}
	contexts := map[string]string{}
	switch decl.Base.Kind {
	case load.BaseInTree:
		args["BASEIMAGE"] = bs.pinned(graph.NodeID{Label: decl.Base.Label, Platform: id.Platform}, contexts)
	case load.BaseExternal:
		args["BASEIMAGE"] = decl.Base.Ref
	default:
		args["BASEIMAGE"] = "scratch"
	}
	for _, e := range r.node.Deps {
		if e.Kind == graph.EdgeImageArg {
			args[e.Arg] = bs.pinned(e.To, contexts)
		}
	}
	labels := map[string]string{
		"image_version":       decl.Version,
		plan.LabelInputDigest: string(r.digest.Digest),
		plan.LabelInputParts:  plan.EncodeParts(r.digest.Parts),
	}
	if rev := sourceRevision(bs.root); rev != "" {
		labels["commit_id"] = rev
	}
	for k, v := range decl.Labels {
		labels[k] = v
	}
	req := exec.Request{
		ID: id, Platform: id.Platform, Root: bs.root,
		Dockerfile: filepath.Join(bs.root, filepath.FromSlash(decl.Dockerfile)),
		ContextDir: filepath.Join(bs.root, filepath.FromSlash(decl.Context)),
		Extra:      extra, BuildArgs: args, Labels: labels, Digest: r.digest.Digest,
		Ref: r.ref, Push: bs.layout == "", NoCache: bs.c.Bool("no-cache"),
		Layout: bs.layout, Contexts: contexts, Provenance: bs.c.Bool("provenance"),
		Status: pw.status(id.String()),
	}
	t1 := time.Now()
	done = bs.busy.start()
	res, err := ex.Build(ctx, req)
	done()
	r.solve = time.Since(t1)
	if err != nil {
		return "", "", err
	}
	r.result = res
	if bs.layout == "" {
		_ = plan.RecordBuilt(filepath.Join(bs.root, ".imgraph", "cache", "published.json"), r.ref, res.Digest, r.digest.Digest)
	}
	return exec.StateBuilt, r.decision.Reason, nil
}

// pinned is a finished node's reference pinned by digest, so a child
// builds on exactly what its parent produced.
func (bs *buildState) pinned(id graph.NodeID, contexts map[string]string) string {
	p := bs.runs[id]
	ref := p.ref
	if bs.layout != "" {
		// Local layout: the name resolves through a named context.
		contexts[ref] = p.result.Digest
		return ref
	}
	if p.result.Digest != "" {
		ref += "@" + p.result.Digest
	}
	return ref
}

var (
	revOnce sync.Once
	revVal  string
)

// sourceRevision is the workspace's git HEAD, recorded as the legacy
// commit_id label; empty outside git.
func sourceRevision(root string) string {
	revOnce.Do(func() {
		data, err := os.ReadFile(filepath.Join(root, ".git", "HEAD"))
		if err != nil {
			return
		}
		s := strings.TrimSpace(string(data))
		if ref, ok := strings.CutPrefix(s, "ref: "); ok {
			b, err := os.ReadFile(filepath.Join(root, ".git", filepath.FromSlash(ref)))
			if err != nil {
				return
			}
			s = strings.TrimSpace(string(b))
		}
		revVal = s
	})
	return revVal
}

type listResult struct {
	Label   string   `json:"label"`
	Ref     string   `json:"ref"`
	Digest  string   `json:"digest,omitempty"`
	Missing []string `json:"missing,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// publishLists writes one manifest list per selected image whose declared
// platforms all exist; the publish package refuses a partial list.
func (bs *buildState) publishLists(ctx context.Context) []listResult {
	byLabel := map[label.Label][]*nodeRun{}
	var labels []label.Label
	for _, id := range bs.order {
		if _, ok := byLabel[id.Label]; !ok {
			labels = append(labels, id.Label)
		}
		byLabel[id.Label] = append(byLabel[id.Label], bs.runs[id])
	}
	// Lists are independent: publish them in parallel (each is one PUT
	// after its reads), so a run with many images does not wait on a
	// chain of round trips.
	out := make([]listResult, len(labels))
	var eg errgroup.Group
	eg.SetLimit(8)
	for i, l := range labels {
		eg.Go(func() error {
			img, _ := bs.g.Workspace.Image(l)
			lr := listResult{Label: string(l), Ref: naming.ListRef(bs.registry, img.Repository, img.Version)}
			list := publish.List{Ref: lr.Ref, Declared: img.AllPlatforms()}
			for _, r := range byLabel[l] {
				if r.outcome.State == exec.StateBuilt || r.outcome.State == exec.StateUpToDate {
					list.Entries = append(list.Entries, publish.Entry{Ref: r.ref, Digest: r.result.Digest, Platform: r.id.Platform})
				}
			}
			res, err := publish.Publish(ctx, list, publish.Options{AllowMissing: bs.c.Bool("allow-missing-platforms")})
			if err != nil {
				lr.Error = err.Error()
			} else {
				lr.Digest = res.Digest
				for _, p := range res.Missing {
					lr.Missing = append(lr.Missing, p.String())
				}
			}
			out[i] = lr
			return nil
		})
	}
	eg.Wait()
	return out
}
