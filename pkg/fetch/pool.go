package fetch

import (
	"context"

	"github.com/djok/modelfetch/internal/fanout"
)

// each runs fn for every index with at most jobs at once and collects results.
// An index that never started (ctx was cancelled first) gets base(i) marked
// as cancelled.
func each(ctx context.Context, jobs, n int, base func(i int) Result, fn func(i int) Result) []Result {
	out, _ := fanout.Map(ctx, jobs, n, fn)
	for i := range out {
		if out[i].Status == "" {
			r := base(i)
			out[i] = failed(ctx, &r, KindCanceled, context.Cause(ctx))
		}
	}
	return out
}
