package exec_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/imgraph/imgraph/engine/exec"
	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/load"
)

// testGraph loads an in-memory workspace with two Linux platforms; images
// maps an image name to the body of its image() call after version.
func testGraph(t *testing.T, images map[string]string) *graph.Graph {
	t.Helper()
	fsys := fstest.MapFS{
		"WORKSPACE.star": {Data: []byte("workspace(platforms = [\"linux/amd64\", \"linux/arm64\"])\n")},
	}
	for name, args := range images {
		fsys["images/"+name+"/IMAGE.star"] = &fstest.MapFile{Data: []byte("image(version = \"1\"" + args + ")\n")}
		fsys["images/"+name+"/Dockerfile"] = &fstest.MapFile{Data: []byte("FROM scratch\n")}
	}
	ws, err := load.Load(context.Background(), load.Options{Root: "/ws", FS: fsys})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	g, err := graph.Build(ws)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return g
}

func allIDs(g *graph.Graph) []graph.NodeID {
	var ids []graph.NodeID
	for _, n := range g.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func nodeID(t *testing.T, s string) graph.NodeID {
	t.Helper()
	id, err := graph.ParseNodeID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var (
	// chain: a <- b <- c, and d <- c through image_args as well as the
	// base chain; e builds on a twice (base and image_args).
	chainGraph = map[string]string{
		"a": "",
		"b": `, base = "//a"`,
		"c": `, base = "//b", image_args = {"D": "//d"}`,
		"d": "",
		"e": `, base = "//a", image_args = {"A": "//a"}`,
	}
	// diamond: top builds on left and right, which both build on root.
	diamondGraph = map[string]string{
		"root":  "",
		"left":  `, base = "//root"`,
		"right": `, base = "//root"`,
		"top":   `, base = "//left", image_args = {"R": "//right"}`,
	}
	// wide: eight independent images.
	wideGraph = map[string]string{
		"w1": "", "w2": "", "w3": "", "w4": "", "w5": "", "w6": "", "w7": "", "w8": "",
	}
)

// span is when a fake task ran, as positions in one global sequence.
type span struct{ start, finish int64 }

// recorder is a fake Task that notes when each node started and finished
// and how many tasks ran at once.
type recorder struct {
	seq       atomic.Int64
	running   atomic.Int64
	maxActive atomic.Int64
	mu        sync.Mutex
	spans     map[graph.NodeID]span
	calls     map[graph.NodeID]int
}

func newRecorder() *recorder {
	return &recorder{spans: map[graph.NodeID]span{}, calls: map[graph.NodeID]int{}}
}

func (r *recorder) enter(id graph.NodeID) int64 {
	n := r.running.Add(1)
	for {
		m := r.maxActive.Load()
		if n <= m || r.maxActive.CompareAndSwap(m, n) {
			break
		}
	}
	s := r.seq.Add(1)
	r.mu.Lock()
	r.calls[id]++
	r.mu.Unlock()
	return s
}

func (r *recorder) leave(id graph.NodeID, start int64) {
	f := r.seq.Add(1)
	r.running.Add(-1)
	r.mu.Lock()
	r.spans[id] = span{start, f}
	r.mu.Unlock()
}

func TestScheduleParentsBeforeChildren(t *testing.T) {
	tests := []struct {
		name   string
		images map[string]string
		jobs   int
	}{
		{"chain sequential", chainGraph, 1},
		{"chain parallel", chainGraph, 4},
		{"diamond parallel", diamondGraph, 3},
		{"diamond unbounded", diamondGraph, 100},
		{"wide parallel", wideGraph, 3},
		{"jobs below one means one", chainGraph, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := testGraph(t, tc.images)
			ids := allIDs(g)
			// Several rounds with random task lengths shake out orderings.
			for round := 0; round < 5; round++ {
				rec := newRecorder()
				task := func(ctx context.Context, id graph.NodeID) (exec.State, string, error) {
					s := rec.enter(id)
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
					rec.leave(id, s)
					return exec.StateBuilt, "", nil
				}
				out := exec.Schedule(context.Background(), g, ids, tc.jobs, true, task)
				if len(out) != len(ids) {
					t.Fatalf("%d outcomes for %d nodes", len(out), len(ids))
				}
				for _, id := range ids {
					if out[id].State != exec.StateBuilt {
						t.Errorf("%s: %s, want built", id, out[id].State)
					}
					if rec.calls[id] != 1 {
						t.Errorf("%s ran %d times", id, rec.calls[id])
					}
					n, _ := g.Node(id)
					for _, e := range n.Deps {
						if p, c := rec.spans[e.To], rec.spans[id]; c.start < p.finish {
							t.Errorf("%s started (%d) before its dependency %s finished (%d)", id, c.start, e.To, p.finish)
						}
					}
				}
				if limit := int64(max(tc.jobs, 1)); rec.maxActive.Load() > limit {
					t.Errorf("%d tasks ran at once, jobs = %d", rec.maxActive.Load(), tc.jobs)
				}
			}
		})
	}
}

// TestScheduleJobsBound holds every task until jobs of them run at once,
// then checks that no further one starts while the slots are taken.
func TestScheduleJobsBound(t *testing.T) {
	g := testGraph(t, wideGraph) // 16 independent nodes
	for _, jobs := range []int{1, 3, 5} {
		t.Run(fmt.Sprint("jobs=", jobs), func(t *testing.T) {
			var running, started atomic.Int64
			release := make(chan struct{})
			full := make(chan struct{}, 1)
			task := func(ctx context.Context, id graph.NodeID) (exec.State, string, error) {
				started.Add(1)
				if running.Add(1) == int64(jobs) {
					select {
					case full <- struct{}{}:
					default: // later tasks, after the release
					}
				}
				<-release
				running.Add(-1)
				return exec.StateBuilt, "", nil
			}
			done := make(chan map[graph.NodeID]exec.Outcome)
			go func() { done <- exec.Schedule(context.Background(), g, allIDs(g), jobs, true, task) }()
			select {
			case <-full:
			case <-time.After(10 * time.Second):
				t.Fatalf("never %d tasks at once (%d started)", jobs, started.Load())
			}
			time.Sleep(20 * time.Millisecond) // give an extra start the chance to show
			if n := started.Load(); n != int64(jobs) {
				t.Errorf("%d tasks started with %d slots all busy", n, jobs)
			}
			close(release)
			out := <-done
			for id, o := range out {
				if o.State != exec.StateBuilt {
					t.Errorf("%s: %s", id, o.State)
				}
			}
			if len(out) != len(g.Nodes) || started.Load() != int64(len(g.Nodes)) {
				t.Errorf("%d outcomes, %d tasks started, want %d", len(out), started.Load(), len(g.Nodes))
			}
		})
	}
}

func TestScheduleFailureSkipsDependants(t *testing.T) {
	tests := []struct {
		name    string
		images  map[string]string
		fail    []string
		notRun  map[string]exec.State // state of each node that must not run
		reasons map[string]string     // part of the reason of some of them
	}{
		{
			name:   "chain root fails",
			images: chainGraph,
			fail:   []string{"//a@linux/amd64"},
			notRun: map[string]exec.State{
				"//b@linux/amd64": exec.StateSkipped,
				"//c@linux/amd64": exec.StateSkipped,
				"//e@linux/amd64": exec.StateSkipped,
			},
			reasons: map[string]string{
				"//b@linux/amd64": "//a@linux/amd64 failed",
				"//c@linux/amd64": "//b@linux/amd64 skipped",
				"//e@linux/amd64": "//a@linux/amd64 failed",
			},
		},
		{
			name:   "image_args parent fails",
			images: chainGraph,
			fail:   []string{"//d@linux/arm64"},
			notRun: map[string]exec.State{"//c@linux/arm64": exec.StateSkipped},
			reasons: map[string]string{
				"//c@linux/arm64": "//d@linux/arm64 failed",
			},
		},
		{
			name:   "one side of a diamond fails",
			images: diamondGraph,
			fail:   []string{"//left@linux/amd64", "//right@linux/arm64"},
			notRun: map[string]exec.State{
				"//top@linux/amd64": exec.StateSkipped,
				"//top@linux/arm64": exec.StateSkipped,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := testGraph(t, tc.images)
			fail := map[string]bool{}
			for _, f := range tc.fail {
				fail[f] = true
			}
			rec := newRecorder()
			task := func(ctx context.Context, id graph.NodeID) (exec.State, string, error) {
				s := rec.enter(id)
				defer rec.leave(id, s)
				if fail[id.String()] {
					return "", "", errors.New("boom")
				}
				return exec.StateBuilt, "", nil
			}
			out := exec.Schedule(context.Background(), g, allIDs(g), 3, true, task)
			for _, id := range allIDs(g) {
				o, s := out[id], id.String()
				want, skipped := tc.notRun[s]
				switch {
				case fail[s]:
					want = exec.StateFailed
					if o.Err == nil || o.Err.Error() != "boom" {
						t.Errorf("%s: error %v, want boom", s, o.Err)
					}
				case !skipped:
					want = exec.StateBuilt
				}
				if o.State != want {
					t.Errorf("%s: %s, want %s", s, o.State, want)
				}
				if calls := rec.calls[id]; skipped && calls != 0 || !skipped && calls != 1 {
					t.Errorf("%s: task ran %d times", s, calls)
				}
				if r := tc.reasons[s]; !strings.Contains(o.Reason, r) {
					t.Errorf("%s: reason %q, want it to contain %q", s, o.Reason, r)
				}
			}
		})
	}
}

// TestScheduleNotBuiltSkipsDependants: a node the task declares not built
// (no builder) is no base for its dependants.
func TestScheduleNotBuiltSkipsDependants(t *testing.T) {
	g := testGraph(t, chainGraph)
	a := nodeID(t, "//a@linux/arm64")
	var ran sync.Map
	task := func(ctx context.Context, id graph.NodeID) (exec.State, string, error) {
		ran.Store(id, true)
		if id == a {
			return exec.StateNotBuilt, "no builder for linux/arm64", nil
		}
		return exec.StateBuilt, "", nil
	}
	out := exec.Schedule(context.Background(), g, allIDs(g), 2, true, task)
	if o := out[a]; o.State != exec.StateNotBuilt || o.Reason != "no builder for linux/arm64" {
		t.Errorf("%s: %+v", a, o)
	}
	for _, s := range []string{"//b@linux/arm64", "//c@linux/arm64", "//e@linux/arm64"} {
		id := nodeID(t, s)
		if _, ok := ran.Load(id); ok || out[id].State != exec.StateSkipped {
			t.Errorf("%s: %s (ran: %v), want skipped without running", s, out[id].State, ok)
		}
	}
	if o := out[nodeID(t, "//b@linux/amd64")]; o.State != exec.StateBuilt {
		t.Errorf("//b@linux/amd64: %s", o.State)
	}
}

// TestScheduleStopOnFailure: without keepGoing, a failure cancels the task
// in flight and nothing starts after it.
func TestScheduleStopOnFailure(t *testing.T) {
	g := testGraph(t, wideGraph)
	for round := 0; round < 20; round++ {
		var started atomic.Int64
		var late sync.Map // tasks that started after the failure
		inflight := make(chan struct{})
		task := func(ctx context.Context, id graph.NodeID) (exec.State, string, error) {
			switch started.Add(1) {
			case 1: // in flight when the other fails
				close(inflight)
				select {
				case <-ctx.Done():
					return "", "", ctx.Err()
				case <-time.After(10 * time.Second):
					return "", "", errors.New("never cancelled")
				}
			case 2:
				<-inflight
				return "", "", errors.New("boom")
			default:
				late.Store(id, true)
				return exec.StateBuilt, "", nil
			}
		}
		out := exec.Schedule(context.Background(), g, allIDs(g), 2, false, task)
		late.Range(func(k, _ any) bool {
			t.Errorf("round %d: %s started after the failure", round, k)
			return true
		})
		count := map[exec.State]int{}
		for _, o := range out {
			count[o.State]++
			if o.State == exec.StateFailed && o.Err.Error() != "boom" {
				t.Errorf("failed with %v", o.Err)
			}
		}
		want := map[exec.State]int{exec.StateFailed: 1, exec.StateCancelled: len(g.Nodes) - 1}
		if fmt.Sprint(count) != fmt.Sprint(want) {
			t.Fatalf("round %d: outcomes %v, want %v", round, count, want)
		}
	}
}

func TestScheduleCancelledContext(t *testing.T) {
	g := testGraph(t, chainGraph)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int64
	task := func(ctx context.Context, id graph.NodeID) (exec.State, string, error) {
		calls.Add(1)
		return exec.StateBuilt, "", nil
	}
	out := exec.Schedule(ctx, g, allIDs(g), 4, true, task)
	if calls.Load() != 0 {
		t.Errorf("%d tasks ran under a cancelled context", calls.Load())
	}
	if len(out) != len(g.Nodes) {
		t.Fatalf("%d outcomes for %d nodes", len(out), len(g.Nodes))
	}
	for id, o := range out {
		// Roots are cancelled; their dependants skipped because of that.
		if o.State != exec.StateCancelled && o.State != exec.StateSkipped {
			t.Errorf("%s: %s", id, o.State)
		}
	}
}

// TestScheduleDuplicateIDs: a node listed twice runs once, and nodes
// depending on it still run.
func TestScheduleDuplicateIDs(t *testing.T) {
	g := testGraph(t, chainGraph)
	ids := allIDs(g)
	ids = append(ids, ids...)
	var mu sync.Mutex
	calls := map[graph.NodeID]int{}
	task := func(ctx context.Context, id graph.NodeID) (exec.State, string, error) {
		mu.Lock()
		calls[id]++
		mu.Unlock()
		return exec.StateBuilt, "", nil
	}
	done := make(chan map[graph.NodeID]exec.Outcome)
	go func() { done <- exec.Schedule(context.Background(), g, ids, 2, true, task) }()
	var out map[graph.NodeID]exec.Outcome
	select {
	case out = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Schedule did not return")
	}
	for _, n := range g.Nodes {
		if out[n.ID].State != exec.StateBuilt || calls[n.ID] != 1 {
			t.Errorf("%s: %s, ran %d times", n.ID, out[n.ID].State, calls[n.ID])
		}
	}
}
