package exec

import (
	"context"
	"fmt"
	"sync"

	"github.com/imgraph/imgraph/engine/graph"
)

// State is how a node ended.
type State string

const (
	StateBuilt     State = "built"
	StateUpToDate  State = "up to date"
	StateFailed    State = "failed"
	StateSkipped   State = "skipped"   // a dependency failed
	StateNotBuilt  State = "not built" // no builder, or cancelled before start
	StateCancelled State = "cancelled"
)

// Outcome is what the scheduler learned about one node.
type Outcome struct {
	State  State
	Err    error
	Reason string // for skipped / not built
}

// Task runs one node. It returns the final state (built, up to date, not
// built) or an error (failed).
type Task func(ctx context.Context, id graph.NodeID) (State, string, error)

// Schedule runs task for every node of ids (a topologically ordered set,
// closed under dependencies of interest) with at most jobs in parallel,
// parents before children. A failed node marks its dependants skipped;
// with keepGoing unrelated nodes still run, without it the first failure
// cancels everything in flight.
func Schedule(ctx context.Context, g *graph.Graph, ids []graph.NodeID, jobs int, keepGoing bool, task Task) map[graph.NodeID]Outcome {
	if jobs < 1 {
		jobs = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// A node listed twice would otherwise be counted twice below and never
	// become ready (or, as a root, run twice).
	in := make(map[graph.NodeID]bool, len(ids))
	uniq := make([]graph.NodeID, 0, len(ids))
	for _, id := range ids {
		if !in[id] {
			in[id] = true
			uniq = append(uniq, id)
		}
	}
	// pending counts unfinished deps inside the set, one per edge (RDeps
	// lists a dependant once per edge too). Deps outside the set are taken
	// as available: the caller passes a closure.
	pending := make(map[graph.NodeID]int, len(uniq))
	for _, id := range uniq {
		n, _ := g.Node(id)
		for _, e := range n.Deps {
			if in[e.To] {
				pending[id]++
			}
		}
	}
	var (
		mu       sync.Mutex
		outcomes = make(map[graph.NodeID]Outcome, len(uniq))
		wg       sync.WaitGroup
		sem      = make(chan struct{}, jobs)
	)
	var start func(id graph.NodeID)
	// finish records an outcome and releases dependants; callers hold mu.
	var finish func(id graph.NodeID, o Outcome)
	finish = func(id graph.NodeID, o Outcome) {
		outcomes[id] = o
		ok := o.State == StateBuilt || o.State == StateUpToDate
		for _, r := range g.RDeps(id) {
			if !in[r] {
				continue
			}
			if _, done := outcomes[r]; done {
				continue
			}
			if !ok {
				why := fmt.Sprintf("%s %s", id, o.State)
				finish(r, Outcome{State: StateSkipped, Reason: why})
				continue
			}
			pending[r]--
			if pending[r] == 0 {
				start(r)
			}
		}
	}
	start = func(id graph.NodeID) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acquired := false
			select {
			case sem <- struct{}{}:
				acquired = true
			case <-ctx.Done():
			}
			// select picks at random when a slot and the cancellation are
			// both ready: check again, so nothing starts after a failure
			// (without keepGoing) or an interrupt.
			if ctx.Err() != nil {
				if acquired {
					<-sem
				}
				mu.Lock()
				if _, done := outcomes[id]; !done {
					finish(id, Outcome{State: StateCancelled, Reason: "cancelled before it started"})
				}
				mu.Unlock()
				return
			}
			state, reason, err := task(ctx, id)
			mu.Lock()
			if _, done := outcomes[id]; !done {
				switch {
				case err != nil && ctx.Err() != nil:
					finish(id, Outcome{State: StateCancelled, Err: err})
				case err != nil:
					finish(id, Outcome{State: StateFailed, Err: err})
					if !keepGoing {
						cancel()
					}
				default:
					finish(id, Outcome{State: state, Reason: reason})
				}
			}
			mu.Unlock()
			// The slot is freed only after the outcome is recorded (and a
			// failure has cancelled ctx), so the node waiting for it sees
			// the cancellation instead of starting.
			<-sem
		}()
	}
	mu.Lock()
	for _, id := range uniq {
		if pending[id] == 0 {
			start(id)
		}
	}
	mu.Unlock()
	wg.Wait()
	return outcomes
}
