package graph

import (
	"fmt"
	"sort"
	"strings"

	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/platform"
)

// ParseNodeID parses //label@platform.
func ParseNodeID(s string) (NodeID, error) {
	ls, ps, ok := strings.Cut(s, "@")
	if !ok {
		return NodeID{}, fmt.Errorf("%q is not a node (want //label@os/arch)", s)
	}
	l, err := label.Parse(ls)
	if err != nil {
		return NodeID{}, err
	}
	p, err := platform.Parse(ps)
	if err != nil {
		return NodeID{}, err
	}
	return NodeID{l, p}, nil
}

// Select resolves target strings (patterns //x, //x/..., //...; bare names;
// single nodes //x@linux/arm64) to nodes in topological order. A pattern
// that matches nothing is an error with a suggestion.
func (g *Graph) Select(targets []string) ([]NodeID, error) {
	if len(targets) == 0 {
		targets = []string{"//..."}
	}
	want := map[NodeID]bool{}
	for _, t := range targets {
		if strings.Contains(t, "@") {
			id, err := ParseNodeID(t)
			if err != nil {
				return nil, err
			}
			if _, ok := g.byID[id]; !ok {
				var ps []string
				for _, n := range g.Nodes {
					if n.ID.Label == id.Label {
						ps = append(ps, n.ID.Platform.String())
					}
				}
				if len(ps) == 0 {
					// The image itself is unknown: say so, with a suggestion.
					if _, err := g.Select([]string{string(id.Label)}); err != nil {
						return nil, fmt.Errorf("unknown node %s: %w", id, err)
					}
				}
				return nil, fmt.Errorf("unknown node %s: %s has %s", id, id.Label, strings.Join(ps, ", "))
			}
			want[id] = true
			continue
		}
		pat, err := label.ParsePattern(t)
		if err != nil {
			return nil, err
		}
		matched := false
		for _, n := range g.Nodes {
			if pat.Match(n.ID.Label) {
				want[n.ID] = true
				matched = true
			}
		}
		if !matched {
			msg := fmt.Sprintf("no image matches %s", pat)
			if len(g.Nodes) == 0 {
				msg += fmt.Sprintf(": the workspace has no images (no %s below %s/); an image is a directory there holding an %s with image(version = \"1.0\") and a Dockerfile", load.ImageFile, g.Workspace.ImagesDir, load.ImageFile)
			}
			if !pat.Recursive {
				var labels []string
				for _, l := range g.Workspace.Labels() {
					labels = append(labels, string(l))
				}
				if s := load.Closest(pat.String(), labels); s != "" {
					msg += fmt.Sprintf("; did you mean %s?", s)
				}
			}
			return nil, fmt.Errorf("%s", msg)
		}
	}
	return g.ordered(want), nil
}

func (g *Graph) ordered(set map[NodeID]bool) []NodeID {
	out := make([]NodeID, 0, len(set))
	for _, n := range g.Nodes {
		if set[n.ID] {
			out = append(out, n.ID)
		}
	}
	return out
}

// Deps returns the transitive dependencies of ids (not ids themselves,
// unless they depend on each other), in topological order.
func (g *Graph) Deps(ids []NodeID) []NodeID {
	set := map[NodeID]bool{}
	var walk func(id NodeID)
	walk = func(id NodeID) {
		for _, e := range g.byID[id].Deps {
			if !set[e.To] {
				set[e.To] = true
				walk(e.To)
			}
		}
	}
	for _, id := range ids {
		walk(id)
	}
	return g.ordered(set)
}

// Closure returns ids plus all their dependencies, in topological order:
// what a build of ids has to build.
func (g *Graph) Closure(ids []NodeID) []NodeID {
	set := map[NodeID]bool{}
	for _, id := range ids {
		set[id] = true
	}
	for _, id := range g.Deps(ids) {
		set[id] = true
	}
	return g.ordered(set)
}

// ReverseDeps returns every node that builds on any of ids, transitively.
func (g *Graph) ReverseDeps(ids []NodeID) []NodeID {
	set := map[NodeID]bool{}
	var walk func(id NodeID)
	walk = func(id NodeID) {
		for _, r := range g.rdeps[id] {
			if !set[r] {
				set[r] = true
				walk(r)
			}
		}
	}
	for _, id := range ids {
		walk(id)
	}
	return g.ordered(set)
}

// Path returns one shortest dependency path from -> ... -> to (from builds
// on to), or nil when there is none.
func (g *Graph) Path(from, to []NodeID) []NodeID {
	target := map[NodeID]bool{}
	for _, t := range to {
		target[t] = true
	}
	prev := map[NodeID]NodeID{}
	seen := map[NodeID]bool{}
	queue := append([]NodeID(nil), from...)
	for _, f := range from {
		seen[f] = true
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if target[id] {
			path := []NodeID{id}
			for {
				p, ok := prev[path[0]]
				if !ok {
					break
				}
				path = append([]NodeID{p}, path...)
			}
			return path
		}
		for _, e := range g.byID[id].Deps {
			if !seen[e.To] {
				seen[e.To] = true
				prev[e.To] = id
				queue = append(queue, e.To)
			}
		}
	}
	return nil
}

// Labels returns the distinct labels of ids, sorted.
func Labels(ids []NodeID) []label.Label {
	set := map[label.Label]bool{}
	for _, id := range ids {
		set[id.Label] = true
	}
	out := make([]label.Label, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
