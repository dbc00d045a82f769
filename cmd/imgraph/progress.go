package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progresswriter"
)

// progress fans BuildKit-style status streams of many nodes into one
// progressui display, each vertex prefixed with its node.
type progress struct {
	pw   progresswriter.Writer
	mw   *progresswriter.MultiWriter
	keep progresswriter.Writer
}

func newProgress(ctx context.Context, mode string) (*progress, error) {
	pw, err := progresswriter.NewPrinter(context.WithoutCancel(ctx), os.Stderr, mode)
	if err != nil {
		return nil, fmt.Errorf("progress display: %w", err)
	}
	mw := progresswriter.NewMultiWriter(pw)
	// keep holds the display open until every node is done: the multi
	// writer closes it when its last prefixed writer finishes.
	return &progress{pw: pw, mw: mw, keep: mw.WithPrefix("", false)}, nil
}

func (p *progress) status(prefix string) chan *client.SolveStatus {
	return p.mw.WithPrefix(prefix, true).Status()
}

func (p *progress) close() {
	close(p.keep.Status())
	<-p.pw.Done()
}

// busyClock measures the union of intervals during which any tracked work
// runs: with parallel nodes, summing durations would overcount.
type busyClock struct {
	mu     sync.Mutex
	active int
	since  time.Time
	sum    time.Duration
}

func (b *busyClock) start() func() {
	b.mu.Lock()
	if b.active == 0 {
		b.since = time.Now()
	}
	b.active++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.active--
			if b.active == 0 {
				b.sum += time.Since(b.since)
			}
			b.mu.Unlock()
		})
	}
}

func (b *busyClock) total() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sum
}
