package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/naming"
)

func queryCommand() *cli.Command {
	graphOutputs := []string{"text", "json", "dot", "mermaid"}
	listOutputs := []string{"text", "json"}
	// sub declares one query; outputs are the --output values it supports
	// (dot and mermaid only make sense for graphs of nodes), and --images
	// exists only where nodes can be collapsed to images.
	sub := func(name, usage, args string, outputs []string, fn func(c *cli.Context, g *graph.Graph, out string) error) *cli.Command {
		want := strings.Join(outputs[:len(outputs)-1], ", ") + " or " + outputs[len(outputs)-1]
		flags := []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: want}}
		if len(outputs) > 2 {
			flags = append(flags, &cli.BoolFlag{Name: "images", Usage: "print image labels instead of (image, platform) nodes"})
		}
		return &cli.Command{
			Name:      name,
			Usage:     usage,
			ArgsUsage: args,
			Flags:     flags,
			Action: func(c *cli.Context) error {
				out := c.String("output")
				if !slices.Contains(outputs, out) {
					if slices.Contains(graphOutputs, out) {
						return usageErr(fmt.Errorf("query %s: --output %s is not supported (%s)", name, out, want))
					}
					return usageErr(fmt.Errorf("--output %q: want %s", out, want))
				}
				g, err := loadGraph(c)
				if err != nil {
					return err
				}
				return fn(c, g, out)
			},
		}
	}
	return &cli.Command{
		Name:  "query",
		Usage: "answer questions about the build graph without building",
		Subcommands: []*cli.Command{
			sub("deps", "everything TARGETS build on", "TARGETS", graphOutputs, func(c *cli.Context, g *graph.Graph, out string) error {
				ids, err := selectTargets(g, c.Args().Slice())
				if err != nil {
					return err
				}
				return printNodeSet(c, g, g.Deps(ids), out)
			}),
			sub("rdeps", "everything that builds on TARGETS", "TARGETS", graphOutputs, func(c *cli.Context, g *graph.Graph, out string) error {
				ids, err := selectTargets(g, c.Args().Slice())
				if err != nil {
					return err
				}
				return printNodeSet(c, g, g.ReverseDeps(ids), out)
			}),
			sub("path", "a dependency path from FROM to TO (FROM builds on TO)", "FROM TO", graphOutputs, func(c *cli.Context, g *graph.Graph, out string) error {
				if c.NArg() != 2 {
					return usageErr(fmt.Errorf("query path takes two targets: FROM TO"))
				}
				from, err := selectTargets(g, c.Args().Slice()[:1])
				if err != nil {
					return err
				}
				to, err := selectTargets(g, c.Args().Slice()[1:])
				if err != nil {
					return err
				}
				p := g.Path(from, to)
				if p == nil {
					return failedErr(fmt.Errorf("%s does not build on %s", c.Args().Get(0), c.Args().Get(1)))
				}
				if c.Bool("images") && (out == "text" || out == "json") {
					// A path is read in order: one label per image along it
					// (printNodeSet would sort them).
					labels := []string{}
					for _, id := range p {
						if len(labels) == 0 || labels[len(labels)-1] != string(id.Label) {
							labels = append(labels, string(id.Label))
						}
					}
					if out == "json" {
						return writeJSON(c.App.Writer, map[string]any{"images": labels})
					}
					fmt.Fprintln(c.App.Writer, strings.Join(labels, "\n"))
					return nil
				}
				return printNodeSet(c, g, p, out)
			}),
			sub("graph", "the graph of TARGETS and everything they build on", "TARGETS", graphOutputs, func(c *cli.Context, g *graph.Graph, out string) error {
				ids, err := selectTargets(g, c.Args().Slice())
				if err != nil {
					return err
				}
				return printGraph(c.App.Writer, g, g.Closure(ids), out, c.Bool("images"))
			}),
			sub("images", "the per-platform references and manifest lists TARGETS publish", "TARGETS", listOutputs, func(c *cli.Context, g *graph.Graph, out string) error {
				ids, err := selectTargets(g, c.Args().Slice())
				if err != nil {
					return err
				}
				return printImages(c.App.Writer, g, ids, out)
			}),
			sub("hash", "the input digest of each node of TARGETS", "TARGETS", listOutputs, queryHash),
		},
	}
}

func selectTargets(g *graph.Graph, targets []string) ([]graph.NodeID, error) {
	ids, err := g.Select(targets)
	if err != nil {
		return nil, usageErr(err)
	}
	return ids, nil
}

// nodeJSON is the stable JSON form of a node (documented in README.md).
type nodeJSON struct {
	ID         string `json:"id"`
	Label      string `json:"label"`
	Platform   string `json:"platform"`
	Version    string `json:"version,omitempty"`
	Repository string `json:"repository,omitempty"`
	Digest     string `json:"digest,omitempty"`
}

func toNodeJSON(g *graph.Graph, id graph.NodeID) nodeJSON {
	n, _ := g.Node(id)
	return nodeJSON{ID: id.String(), Label: string(id.Label), Platform: id.Platform.String(), Version: n.Image.Version, Repository: n.Image.Repository}
}

func printNodeSet(c *cli.Context, g *graph.Graph, ids []graph.NodeID, out string) error {
	w := c.App.Writer
	switch out {
	case "json":
		if c.Bool("images") {
			labels := []string{}
			for _, l := range graph.Labels(ids) {
				labels = append(labels, string(l))
			}
			return writeJSON(w, map[string]any{"images": labels})
		}
		nodes := []nodeJSON{}
		for _, id := range ids {
			nodes = append(nodes, toNodeJSON(g, id))
		}
		return writeJSON(w, map[string]any{"nodes": nodes})
	case "dot", "mermaid":
		return printGraph(w, g, ids, out, c.Bool("images"))
	}
	if c.Bool("images") {
		for _, l := range graph.Labels(ids) {
			fmt.Fprintln(w, l)
		}
		return nil
	}
	for _, id := range ids {
		fmt.Fprintln(w, id)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type edgeJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
	Kind string `json:"kind"`
	Arg  string `json:"arg,omitempty"`
	Pos  string `json:"pos"`
}

// printGraph renders the subgraph induced by ids; with byImage, nodes are
// collapsed to one per label.
func printGraph(w io.Writer, g *graph.Graph, ids []graph.NodeID, out string, byImage bool) error {
	in := map[graph.NodeID]bool{}
	for _, id := range ids {
		in[id] = true
	}
	name := func(id graph.NodeID) string {
		if byImage {
			return string(id.Label)
		}
		return id.String()
	}
	var nodes []string
	seenNode := map[string]bool{}
	var edges []edgeJSON
	seenEdge := map[string]bool{}
	for _, id := range ids {
		if n := name(id); !seenNode[n] {
			seenNode[n] = true
			nodes = append(nodes, n)
		}
		node, _ := g.Node(id)
		for _, e := range node.Deps {
			if !in[e.To] {
				continue
			}
			ej := edgeJSON{From: name(id), To: name(e.To), Kind: string(e.Kind), Arg: e.Arg, Pos: e.Pos.String()}
			key := ej.From + " " + ej.To + " " + ej.Kind + " " + ej.Arg
			if !seenEdge[key] {
				seenEdge[key] = true
				edges = append(edges, ej)
			}
		}
	}
	switch out {
	case "json":
		if edges == nil {
			edges = []edgeJSON{}
		}
		if byImage {
			return writeJSON(w, map[string]any{"images": nodes, "edges": edges})
		}
		nj := []nodeJSON{}
		for _, id := range ids {
			nj = append(nj, toNodeJSON(g, id))
		}
		return writeJSON(w, map[string]any{"nodes": nj, "edges": edges})
	case "dot":
		fmt.Fprintln(w, "digraph imgraph {")
		fmt.Fprintln(w, "  rankdir=BT;")
		fmt.Fprintln(w, "  node [shape=box];")
		for _, n := range nodes {
			fmt.Fprintf(w, "  %q;\n", n)
		}
		for _, e := range edges {
			style := ""
			if e.Kind == string(graph.EdgeImageArg) {
				style = fmt.Sprintf(" [style=dashed, label=%q]", e.Arg)
			}
			fmt.Fprintf(w, "  %q -> %q%s;\n", e.From, e.To, style)
		}
		fmt.Fprintln(w, "}")
	case "mermaid":
		fmt.Fprintln(w, "graph BT")
		ids := map[string]string{}
		for i, n := range nodes {
			ids[n] = fmt.Sprintf("n%d", i)
			fmt.Fprintf(w, "  n%d[%q]\n", i, n)
		}
		for _, e := range edges {
			arrow := "-->"
			if e.Kind == string(graph.EdgeImageArg) {
				arrow = "-. " + e.Arg + " .->"
			}
			fmt.Fprintf(w, "  %s %s %s\n", ids[e.From], arrow, ids[e.To])
		}
	default:
		for _, e := range edges {
			extra := ""
			if e.Arg != "" {
				extra = " " + e.Arg
			}
			fmt.Fprintf(w, "%s -> %s (%s%s)\n", e.From, e.To, e.Kind, extra)
		}
		// Nodes without edges would vanish from an edge list.
		linked := map[string]bool{}
		for _, e := range edges {
			linked[e.From], linked[e.To] = true, true
		}
		for _, n := range nodes {
			if !linked[n] {
				fmt.Fprintln(w, n)
			}
		}
	}
	return nil
}

type imageJSON struct {
	Label        string         `json:"label"`
	Repository   string         `json:"repository"`
	Version      string         `json:"version"`
	ManifestList string         `json:"manifest_list"`
	Platforms    []platformJSON `json:"platforms"`
}

type platformJSON struct {
	Platform string `json:"platform"`
	Ref      string `json:"ref"`
}

func printImages(w io.Writer, g *graph.Graph, ids []graph.NodeID, out string) error {
	reg := g.Workspace.Registry
	byLabel := map[string]*imageJSON{}
	var order []string
	for _, id := range ids {
		n, _ := g.Node(id)
		ij, ok := byLabel[string(id.Label)]
		if !ok {
			ij = &imageJSON{Label: string(id.Label), Repository: n.Image.Repository, Version: n.Image.Version,
				ManifestList: naming.ListRef(reg, n.Image.Repository, n.Image.Version)}
			byLabel[string(id.Label)] = ij
			order = append(order, string(id.Label))
		}
		ij.Platforms = append(ij.Platforms, platformJSON{Platform: id.Platform.String(), Ref: naming.PlatformRef(reg, n.Image.Repository, n.Image.Version, id.Platform)})
	}
	sort.Strings(order)
	var list []imageJSON
	for _, l := range order {
		list = append(list, *byLabel[l])
	}
	if out == "json" {
		if list == nil {
			list = []imageJSON{}
		}
		return writeJSON(w, map[string]any{"images": list})
	}
	if out != "text" {
		return usageErr(fmt.Errorf("query images: --output %s is not supported (text or json)", out))
	}
	for _, ij := range list {
		fmt.Fprintf(w, "%s\n", ij.Label)
		for _, p := range ij.Platforms {
			fmt.Fprintf(w, "  %-28s %s\n", p.Platform, p.Ref)
		}
		fmt.Fprintf(w, "  %-28s %s\n", "manifest list", ij.ManifestList)
	}
	return nil
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// queryHash prints each node's input digest; with --output json also the
// parts it is made of (what changed, when compared with another run).
func queryHash(c *cli.Context, g *graph.Graph, out string) error {
	ids, err := selectTargets(g, c.Args().Slice())
	if err != nil {
		return err
	}
	digests, err := hashNodes(c, g, ids)
	if err != nil {
		return failedErr(fmt.Errorf("hash inputs: %w", err))
	}
	w := c.App.Writer
	if out == "json" {
		type hashJSON struct {
			ID     string            `json:"id"`
			Digest string            `json:"digest"`
			Parts  map[string]string `json:"parts"`
		}
		list := []hashJSON{}
		for _, id := range ids {
			d := digests[id]
			parts := map[string]string{}
			for k, v := range d.Parts {
				parts[k] = string(v)
			}
			list = append(list, hashJSON{ID: id.String(), Digest: string(d.Digest), Parts: parts})
		}
		return writeJSON(w, map[string]any{"nodes": list})
	}
	if out != "text" {
		return usageErr(fmt.Errorf("query hash: --output %s is not supported (text or json)", out))
	}
	for _, id := range ids {
		fmt.Fprintf(w, "%s %s\n", digests[id].Digest, id)
	}
	return nil
}
