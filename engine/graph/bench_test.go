package graph_test

import (
	"context"
	"testing"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/internal/synth"
)

// BenchmarkLoadAndBuildSynth is what every imgraph command pays before it
// does anything: load the 1,000-image synthetic workspace and build its
// graph (target: under 300 ms).
func BenchmarkLoadAndBuildSynth(b *testing.B) {
	dir := synth.Workspace(b, synth.Config{})
	b.ReportAllocs()
	var g *graph.Graph
	peak := synth.PeakHeap(func() {
		for b.Loop() {
			ws, err := load.Load(context.Background(), load.Options{Root: dir})
			if err != nil {
				b.Fatal(err)
			}
			if g, err = graph.Build(ws); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(len(g.Nodes)), "nodes")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkBuildSynth measures graph.Build alone on a loaded workspace.
func BenchmarkBuildSynth(b *testing.B) {
	dir := synth.Workspace(b, synth.Config{})
	ws, err := load.Load(context.Background(), load.Options{Root: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := graph.Build(ws); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReverseDepsSynth measures rdeps of the first root over the
// whole graph, the core of `imgraph query rdeps` and `affected`.
func BenchmarkReverseDepsSynth(b *testing.B) {
	dir := synth.Workspace(b, synth.Config{})
	ws, err := load.Load(context.Background(), load.Options{Root: dir})
	if err != nil {
		b.Fatal(err)
	}
	g, err := graph.Build(ws)
	if err != nil {
		b.Fatal(err)
	}
	roots, err := g.Select([]string{synth.Label(0)})
	if err != nil {
		b.Fatal(err)
	}
	var n int
	for b.Loop() {
		n = len(g.ReverseDeps(roots))
	}
	b.ReportMetric(float64(n), "rdeps")
}
