// Package graph turns a loaded workspace into the build DAG: one node per
// (image, platform), edges from in-tree bases and image_args, in a
// deterministic topological order.
package graph

import (
	"fmt"
	"sort"
	"strings"

	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/platform"
)

// NodeID names one node; its string form //label@os/arch[/variant][/os_version]
// is accepted wherever a target is.
type NodeID struct {
	Label    label.Label
	Platform platform.Platform
}

func (id NodeID) String() string { return string(id.Label) + "@" + id.Platform.String() }

// Less orders node IDs by label, then platform.
func (id NodeID) Less(o NodeID) bool {
	if id.Label != o.Label {
		return id.Label < o.Label
	}
	return platform.Less(id.Platform, o.Platform)
}

// EdgeKind says why one node depends on another.
type EdgeKind string

const (
	EdgeBase     EdgeKind = "base"
	EdgeImageArg EdgeKind = "image_arg"
)

// Edge points from a node to a node it builds on.
type Edge struct {
	To   NodeID
	Kind EdgeKind
	Arg  string   // build-arg name for image_arg edges
	Pos  load.Pos // where the dependency is declared
}

// Node is one (image, platform) to build.
type Node struct {
	ID    NodeID
	Image *load.Image
	Decl  load.Node
	Deps  []Edge // sorted by target
}

// Graph is the whole build DAG.
type Graph struct {
	Workspace *load.Workspace
	Nodes     []*Node // topological: every node after all of its deps
	byID      map[NodeID]*Node
	rdeps     map[NodeID][]NodeID
}

// Node returns the node with the given ID.
func (g *Graph) Node(id NodeID) (*Node, bool) {
	n, ok := g.byID[id]
	return n, ok
}

// RDeps returns the nodes that depend directly on id, sorted.
func (g *Graph) RDeps(id NodeID) []NodeID { return g.rdeps[id] }

// Build checks cross-image references and orders the nodes. All errors are
// returned together as load.ErrorList.
func Build(ws *load.Workspace) (*Graph, error) {
	g := &Graph{Workspace: ws, byID: map[NodeID]*Node{}, rdeps: map[NodeID][]NodeID{}}
	errs := checkRepositories(ws)
	var all []*Node
	for _, img := range ws.Images {
		for _, p := range img.AllPlatforms() {
			decl, err := img.Node(p)
			if err != nil {
				errs = append(errs, asErr(err, img.Pos))
				continue
			}
			n := &Node{ID: NodeID{img.Label, p}, Image: img, Decl: decl}
			g.byID[n.ID] = n
			all = append(all, n)
		}
	}
	labels := make([]string, 0, len(ws.Images))
	for _, l := range ws.Labels() {
		labels = append(labels, string(l))
	}
	for _, n := range all {
		if n.Decl.Base.Kind == load.BaseInTree {
			pos := n.Image.PosOf("base")
			if n.ID.Platform.IsWindows() && n.Image.Windows != nil && n.Image.Windows.Base.Declared() {
				pos = n.Image.Windows.Pos
			}
			if e := g.addEdge(n, Edge{To: NodeID{n.Decl.Base.Label, n.ID.Platform}, Kind: EdgeBase, Pos: pos}, labels); e != nil {
				errs = append(errs, e)
			}
		}
		args := make([]string, 0, len(n.Decl.ImageArgs))
		for k := range n.Decl.ImageArgs {
			args = append(args, k)
		}
		sort.Strings(args)
		for _, k := range args {
			ia := n.Decl.ImageArgs[k]
			tp, err := ia.TargetPlatform(n.ID.Platform)
			if err != nil {
				errs = append(errs, load.Errorf(ia.Pos, "image_args %q: %v", k, err))
				continue
			}
			if e := g.addEdge(n, Edge{To: NodeID{ia.Label, tp}, Kind: EdgeImageArg, Arg: k, Pos: ia.Pos}, labels); e != nil {
				errs = append(errs, e)
			}
		}
		sort.Slice(n.Deps, func(i, j int) bool { return n.Deps[i].To.Less(n.Deps[j].To) })
	}
	if len(errs) > 0 {
		return nil, dedup(errs)
	}
	order, err := topo(all, g.byID)
	if err != nil {
		return nil, err
	}
	g.Nodes = order
	for _, n := range order {
		for _, e := range n.Deps {
			g.rdeps[e.To] = append(g.rdeps[e.To], n.ID)
		}
	}
	for id := range g.rdeps {
		sortIDs(g.rdeps[id])
	}
	return g, nil
}

func asErr(err error, pos load.Pos) *load.Error {
	if e, ok := err.(*load.Error); ok {
		return e
	}
	return load.Errorf(pos, "%v", err)
}

func (g *Graph) addEdge(n *Node, e Edge, labels []string) *load.Error {
	what := "base"
	if e.Kind == EdgeImageArg {
		what = fmt.Sprintf("image_args %q", e.Arg)
	}
	if e.To.Label == n.ID.Label {
		return load.Errorf(e.Pos, "%s %s refers to the image itself; an image cannot build on itself", what, e.To.Label)
	}
	if _, ok := g.Workspace.Image(e.To.Label); !ok {
		msg := fmt.Sprintf("%s: unknown image %s (no %s/%s/%s)", what, e.To.Label, g.Workspace.ImagesDir, e.To.Label.Path(), load.ImageFile)
		// Never suggest the image itself: it cannot build on itself.
		others := make([]string, 0, len(labels))
		for _, l := range labels {
			if l != string(n.ID.Label) {
				others = append(others, l)
			}
		}
		if s := load.Closest(string(e.To.Label), others); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		}
		return load.Errorf(e.Pos, "%s", msg)
	}
	if _, ok := g.byID[e.To]; !ok {
		parent, _ := g.Workspace.Image(e.To.Label)
		var have []string
		for _, p := range parent.AllPlatforms() {
			have = append(have, p.String())
		}
		return load.Errorf(e.Pos, "%s: %s builds %s on %s, but %s (%s) does not produce %s (it has: %s); add the platform to the parent or drop it from this image",
			what, n.ID.Label, n.ID.Platform, e.To.Label, e.To.Label, parent.File, e.To.Platform, strings.Join(have, ", "))
	}
	n.Deps = append(n.Deps, e)
	return nil
}

// dedup drops repeated messages (the same bad base hits every platform).
func dedup(errs load.ErrorList) load.ErrorList {
	seen := map[string]bool{}
	var out load.ErrorList
	for _, e := range errs {
		k := e.Error()
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

// topo orders nodes parents-first with a DFS over sorted IDs; a back edge
// is a cycle, reported with every edge's position.
func topo(all []*Node, byID map[NodeID]*Node) ([]*Node, error) {
	sort.Slice(all, func(i, j int) bool { return all[i].ID.Less(all[j].ID) })
	const (
		white = iota
		grey
		black
	)
	color := make(map[NodeID]int, len(all))
	order := make([]*Node, 0, len(all))
	var stack []*Node
	var stackEdges []Edge
	var visit func(n *Node) error
	visit = func(n *Node) error {
		color[n.ID] = grey
		stack = append(stack, n)
		for _, e := range n.Deps {
			switch color[e.To] {
			case grey:
				return cycleError(stack, append(stackEdges, e), e.To)
			case white:
				stackEdges = append(stackEdges, e)
				if err := visit(byID[e.To]); err != nil {
					return err
				}
				stackEdges = stackEdges[:len(stackEdges)-1]
			}
		}
		stack = stack[:len(stack)-1]
		color[n.ID] = black
		order = append(order, n)
		return nil
	}
	for _, n := range all {
		if color[n.ID] == white {
			if err := visit(n); err != nil {
				return nil, err
			}
		}
	}
	return order, nil
}

func cycleError(stack []*Node, edges []Edge, to NodeID) error {
	i := 0
	for stack[i].ID != to {
		i++
	}
	var b strings.Builder
	b.WriteString("dependency cycle:")
	for j := i; j < len(stack); j++ {
		e := edges[j]
		kind := string(e.Kind)
		if e.Kind == EdgeImageArg {
			kind = fmt.Sprintf("image_args %q", e.Arg)
		}
		fmt.Fprintf(&b, "\n    %s -> %s (%s at %s)", stack[j].ID, e.To, kind, e.Pos)
	}
	b.WriteString("\n  an image cannot build on itself, directly or through others; remove one of these edges")
	return load.ErrorList{load.Errorf(edges[i].Pos, "%s", b.String())}
}

func sortIDs(ids []NodeID) {
	sort.Slice(ids, func(i, j int) bool { return ids[i].Less(ids[j]) })
}

// checkRepositories rejects two images that would publish the same
// repository:version (two directories may share a repository, as
// httpd-new and httpd do, but not a tag).
func checkRepositories(ws *load.Workspace) load.ErrorList {
	var errs load.ErrorList
	owner := map[string]*load.Image{}
	for _, img := range ws.Images {
		key := img.Repository + ":" + img.Version
		if prev, ok := owner[key]; ok {
			errs = append(errs, load.Errorf(img.PosOf("version"), "%s and %s (%s) both publish %s; give one of them another version or repository", img.Label, prev.Label, prev.File, key))
			continue
		}
		owner[key] = img
	}
	return errs
}
