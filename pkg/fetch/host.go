package fetch

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// hostLimiter is the connection budget of one host, shared by every
// artifact: at most limit requests in flight, none before notBefore. A
// throttled answer halves limit (down to one) and holds every request back
// for the server's delay; it grows by one again after limit successes in a
// row, up to max (additive increase per round of requests, multiplicative
// decrease, as TCP's congestion avoidance does), so a server that allows
// fewer connections keeps seeing fewer.
//
// A free slot goes to the waiting claim (share.go) with the fewest requests
// in flight on this host, ties to the one with the most bytes left: each
// file gets a fair share while several wait, and a file that is alone takes
// every slot the others free.
type hostLimiter struct {
	mu        sync.Mutex
	max       int
	limit     int
	inflight  int
	peak      int // most requests in flight at once since the host was last idle
	notBefore time.Time
	cutUntil  time.Time // one cut per throttling episode
	succeeded int       // successes since limit last grew
	changed   chan struct{}
	now       func() time.Time
	held      map[*claim]int     // requests in flight, per claim
	waiting   map[*claim]*queued // claims with requests waiting for a slot
}

// queued is a claim's requests waiting for a slot, and the bytes it had
// left when the first of them began to wait (fixed while it waits, so the
// order of two claims cannot change under their feet).
type queued struct {
	n    int
	left int64
}

func newHostLimiter(max int, now func() time.Time) *hostLimiter {
	return &hostLimiter{max: max, limit: max, changed: make(chan struct{}), now: now,
		held: map[*claim]int{}, waiting: map[*claim]*queued{}}
}

// acquire waits for a connection slot for the claim ctx carries (a request
// of its own without one); release gives it back, ok telling whether the
// request succeeded.
func (h *hostLimiter) acquire(ctx context.Context) (release func(ok bool), err error) {
	c := claimOf(ctx)
	queuedUp := false
	for {
		h.mu.Lock()
		wait := h.notBefore.Sub(h.now())
		if wait <= 0 && h.inflight < h.limit && !h.ahead(c) {
			if queuedUp {
				h.unqueue(c)
			}
			if h.inflight == 0 {
				h.peak = 0 // idle: what was in use before says nothing now
			}
			h.inflight++
			h.peak = max(h.peak, h.inflight)
			h.held[c]++
			if h.inflight < h.limit {
				h.broadcast() // another claim may be first now
			}
			h.mu.Unlock()
			var once sync.Once
			return func(ok bool) { once.Do(func() { h.release(c, ok) }) }, nil
		}
		if !queuedUp {
			h.queue(c)
			queuedUp = true
		}
		changed := h.changed
		h.mu.Unlock()
		if err := h.sleep(ctx, changed, wait); err != nil {
			h.mu.Lock()
			h.unqueue(c)
			h.broadcast()
			h.mu.Unlock()
			return nil, err
		}
	}
}

// sleep waits for a change, for wait to pass (when positive), or for ctx.
func (h *hostLimiter) sleep(ctx context.Context, changed chan struct{}, wait time.Duration) error {
	var fire <-chan time.Time
	if wait > 0 {
		// A little jitter, so the requests held back do not all leave at
		// the same instant.
		timer := time.NewTimer(wait + rand.N(100*time.Millisecond))
		defer timer.Stop()
		fire = timer.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-fire:
	}
	return nil
}

// ahead reports whether another waiting claim comes before c.
func (h *hostLimiter) ahead(c *claim) bool {
	mine, me := h.held[c], h.waiting[c]
	left := c.remaining()
	if me != nil {
		left = me.left
	}
	for d, q := range h.waiting {
		if d == c {
			continue
		}
		if n := h.held[d]; n < mine || n == mine && q.left > left {
			return true
		}
	}
	return false
}

func (h *hostLimiter) queue(c *claim) {
	q := h.waiting[c]
	if q == nil {
		q = &queued{left: c.remaining()}
		h.waiting[c] = q
	}
	q.n++
}

func (h *hostLimiter) unqueue(c *claim) {
	if q := h.waiting[c]; q != nil {
		if q.n--; q.n == 0 {
			delete(h.waiting, c)
		}
	}
}

func (h *hostLimiter) release(c *claim, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inflight--
	if h.held[c]--; h.held[c] == 0 {
		delete(h.held, c)
	}
	if ok && h.limit < h.max {
		if h.succeeded++; h.succeeded >= h.limit {
			h.limit++
			h.succeeded = 0
		}
	}
	h.broadcast()
}

// slowDown records a throttled answer asking for a pause of d, by a
// request whose slot is released already. It reports whether the host
// took the blame, so that the try is free: only when more connections were
// in use to the host at once (this one among them, since the host was last
// idle) than the limit after the cut, made now or earlier in the same
// episode, so that the cut really lowers them. A request alone on its host
// never blames our own parallelism: the try counts against its budget.
func (h *hostLimiter) slowDown(d time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if until := now.Add(d); until.After(h.notBefore) {
		h.notBefore = until
	}
	defer h.broadcast()
	if !now.Before(h.cutUntil) && h.limit > 1 {
		h.limit = max(1, h.limit/2)
		h.succeeded = 0
		h.cutUntil = now.Add(max(d, time.Second))
	}
	return h.peak > h.limit
}

func (h *hostLimiter) broadcast() {
	close(h.changed)
	h.changed = make(chan struct{})
}
