package fetch

import (
	"context"
	"math"
	"sync/atomic"
)

// claim is one artifact's place in the queues of the host budgets
// (host.go): its requests are counted together, so that a free slot goes
// to the artifact with the fewest in flight, and among equals to the one
// with the most bytes left to ask for. A ranged download (parallel.go)
// carries one claim for all its chunks; any other request is a claim of
// its own, with nothing in flight, so a probe or a single stream is never
// queued behind the chunks of a large file.
//
// With every file allowed as many connections as the host (Options.
// Connections), the connections follow the work: while several files wait,
// each gets a fair share; once a file is done, its slots go to those left,
// the largest first, down to the last file, which gets them all. A file is
// split across freed connections at chunk boundaries (Options.ChunkSize),
// so the tail is at most one chunk per connection.
type claim struct {
	left atomic.Int64 // bytes not yet asked for; math.MaxInt64 when unknown
}

func newClaim(left int64) *claim {
	c := &claim{}
	c.left.Store(left)
	return c
}

func (c *claim) remaining() int64 { return c.left.Load() }

type claimKey struct{}

// withClaim is ctx carrying c for the requests made under it.
func withClaim(ctx context.Context, c *claim) context.Context {
	return context.WithValue(ctx, claimKey{}, c)
}

// claimOf is the claim ctx carries, or a new one for a request of its own.
func claimOf(ctx context.Context) *claim {
	if c, ok := ctx.Value(claimKey{}).(*claim); ok {
		return c
	}
	return newClaim(math.MaxInt64)
}
