package affected_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgraph/imgraph/engine/affected"
	"github.com/imgraph/imgraph/engine/vcs/vcstest"
	"github.com/imgraph/imgraph/internal/synth"
)

// synthRepo commits the 1,000-image synthetic workspace, then a second
// commit that changes one context file of one image. It is kept in
// $TMPDIR across runs (committing 50,000 files takes a while).
func synthRepo(b *testing.B) (dir, base, head string) {
	b.Helper()
	dir = filepath.Join(os.TempDir(), "imgraph-affected-bench-v1")
	r := &vcstest.Repo{T: b, Dir: dir}
	if _, err := os.Stat(filepath.Join(dir, ".bench-complete")); err != nil {
		os.RemoveAll(dir)
		if err := synth.Generate(dir, synth.Config{}); err != nil {
			b.Fatal(err)
		}
		r.Git("init", "-q", "-b", "main")
		r.Git("config", "user.email", "bench@example.com")
		r.Git("config", "user.name", "bench")
		r.Commit("synthetic workspace")
		r.Write(map[string]string{"images/g001/img0070/src/d3/file003.txt": "changed\n"})
		r.Commit("change one file")
		if err := os.WriteFile(filepath.Join(dir, ".bench-complete"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir, r.Git("rev-parse", "HEAD~1"), r.Git("rev-parse", "HEAD")
}

// BenchmarkAffectedSynth is `imgraph affected --base HEAD~1 --head HEAD`
// on the synthetic workspace, in process.
func BenchmarkAffectedSynth(b *testing.B) {
	dir, base, head := synthRepo(b)
	var n int
	for b.Loop() {
		cmp, err := affected.Run(context.Background(), affected.Options{Dir: dir, Base: base, Head: head})
		if err != nil {
			b.Fatal(err)
		}
		n = len(cmp.Result.Affected)
	}
	if n == 0 {
		b.Fatal("nothing affected by a changed context file")
	}
	b.ReportMetric(float64(n), "affected-images")
}
