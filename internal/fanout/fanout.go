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
)

// Map calls fn(i) for every i in [0, n), with at most jobs calls running at
// once (jobs < 1 counts as 1), waits for every call that started, and returns
// the results in index order.
//
// An index whose turn comes after ctx is done is skipped: fn is not called
// for it, out[i] is the zero T and ran[i] is false. A call that started is
// not interrupted; fn watches ctx itself if it should stop early. The order
// in which waiting indexes get their turn is not defined.
func Map[T any](ctx context.Context, jobs, n int, fn func(i int) T) (out []T, ran []bool) {
	out = make([]T, n)
	ran = make([]bool, n)
	sem := make(chan struct{}, max(jobs, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return
			}
			// Both cases of the select may be ready at once, and select
			// picks at random: look at ctx again before the call.
			if ctx.Err() == nil {
				ran[i] = true
				out[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	return out, ran
}
