package fetch

import (
	"context"
	"sync"
)

// each runs fn for every index with at most jobs at once and collects results.
// An index that never started (ctx was cancelled first) gets base(i) marked
// as cancelled.
func each(ctx context.Context, jobs, n int, base func(i int) Result, fn func(i int) Result) []Result {
	out := make([]Result, n)
	sem := make(chan struct{}, max(jobs, 1))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return
			}
			if ctx.Err() == nil {
				out[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	for i := range out {
		if out[i].Status == "" {
			r := base(i)
			out[i] = failed(ctx, &r, KindCanceled, context.Cause(ctx))
		}
	}
	return out
}
