// Package fanout is modelfetch's one bounded fan-out: run a function for
// every index of a list with at most a given number of calls at once, stop
// starting new ones once the context is done, and wait for all of them.
// pkg/fetch runs its artifacts through it and pkg/lock its models; each
// caller decides what a skipped index means for it.
//
// It is named fanout, not parallel, because pkg/fetch already has a type
// called parallel (its ranged chunk download).
package fanout

import (
	"context"
	"sync"
	"sync/atomic"
)

// Map calls fn(i) for every i in [0, n), with at most jobs calls running at
// once (jobs < 1 counts as 1), waits for every call that started, and returns
// the results in index order.
//
// Indexes get their turn in index order: the first jobs start at once, and
// each call that ends hands its slot to the lowest index not yet started, so
// a caller decides which work starts first by how it orders the list.
//
// An index whose turn comes after ctx is done is skipped: fn is not called
// for it, out[i] is the zero T and ran[i] is false. A call that started is
// not interrupted; fn watches ctx itself if it should stop early.
func Map[T any](ctx context.Context, jobs, n int, fn func(i int) T) (out []T, ran []bool) {
	out = make([]T, n)
	ran = make([]bool, n)
	var next atomic.Int64 // the lowest index not yet given a turn
	var wg sync.WaitGroup
	for range min(max(jobs, 1), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				ran[i] = true
				out[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	return out, ran
}
