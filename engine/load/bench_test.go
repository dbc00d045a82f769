package load_test

import (
	"context"
	"testing"

	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/internal/synth"
)

// BenchmarkLoadSynth evaluates the default synthetic workspace: 1,000
// images, 50,000 context files.
func BenchmarkLoadSynth(b *testing.B) {
	dir := synth.Workspace(b, synth.Config{})
	b.ReportAllocs()
	var ws *load.Workspace
	peak := synth.PeakHeap(func() {
		for b.Loop() {
			var err error
			if ws, err = load.Load(context.Background(), load.Options{Root: dir}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(len(ws.Images)), "images")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
