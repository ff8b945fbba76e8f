package fetch

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// hostLimiter is the connection budget of one host, shared by every
// artifact: at most limit requests in flight, none before notBefore.
//
// The budget starts at start (Options.HostConnections). After each round of
// successes (as many successes as the budget) in which requests waited for
// a slot, it grows by a quarter (at least one), up to max (Options.
// HostMaxConnections), while each step makes the host faster: the bytes per
// second of a round must beat the round before by at least half the share
// the added connections would bring if each did as well as the others.
// Servers that pace each connection, as CDNs do, so get more connections
// (16, 20, 24 in two rounds, by default); one whose link is full stops the
// growth, where it is, for the rest of the run.
//
// A throttled answer (429, 503) halves limit (down to one) and holds every
// request back for the server's delay; the budget then grows back by one
// per round of successes, never again past the limit it was cut from less
// one (additive increase, multiplicative decrease, as TCP's congestion
// avoidance does), so a server that allows fewer connections keeps seeing
// fewer.
//
// A free slot goes to the waiting claim (share.go) with the fewest requests
// in flight on this host, ties to the one with the most bytes left: each
// file gets a fair share while several wait, and a file that is alone takes
// every slot the others free.
type hostLimiter struct {
	mu        sync.Mutex
	start     int // the budget before any growth; regrowth after a cut stops here
	max       int // the most the budget may grow to; a cut lowers it
	limit     int
	inflight  int
	peak      int // most requests in flight at once since the host was last idle
	notBefore time.Time
	cutUntil  time.Time    // one cut per throttling episode
	succeeded int          // successes since limit last grew
	round     round        // the bytes and time of the successes counted in succeeded
	last      step         // the round before, above start
	recv      atomic.Int64 // bytes received from the host, on every request
	changed   chan struct{}
	now       func() time.Time
	held      map[*claim]int     // requests in flight, per claim
	waiting   map[*claim]*queued // claims with requests waiting for a slot
}

// round is what the successes of one round (as many as the budget) brought:
// counted from when, and the bytes received on the host by then.
type round struct {
	at     time.Time
	recv   int64
	waited bool // a request waited for a slot: the budget was the bound
}

// step is the budget at the last round above start, and its bytes per second.
type step struct {
	limit int
	rate  float64
}

// queued is a claim's requests waiting for a slot, and the bytes it had
// left when the first of them began to wait (fixed while it waits, so the
// order of two claims cannot change under their feet).
type queued struct {
	n    int
	left int64
}

// newHostLimiter is a budget of start connections that may grow to max
// (at least start).
func newHostLimiter(start, most int, now func() time.Time) *hostLimiter {
	return &hostLimiter{start: start, max: max(start, most), limit: start, changed: make(chan struct{}), now: now,
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
				// Idle: what was in use before says nothing now, and the
				// time idle is no part of a round's speed.
				h.peak = 0
				h.round = round{at: h.now(), recv: h.recv.Load()}
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
		if wait <= 0 && h.inflight >= h.limit {
			h.round.waited = true
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
	if ok {
		if h.succeeded++; h.succeeded >= h.limit {
			h.endRound()
		}
	}
	h.broadcast()
}

// endRound closes a round of successes: below start the budget grows back
// by one; from start, by a quarter while requests wait for a slot and each
// step is faster than the one before by half of what it added. A step that
// is not stops the growth where it is.
func (h *hostLimiter) endRound() {
	r, now, recv := h.round, h.now(), h.recv.Load()
	h.succeeded = 0
	h.round = round{at: now, recv: recv}
	switch {
	case h.limit >= h.max:
	case h.limit < h.start:
		h.limit++
	case !r.waited || !now.After(r.at):
	default:
		rate := float64(recv-r.recv) / now.Sub(r.at).Seconds()
		if l := h.last; l.limit > 0 && rate < l.rate*(1+float64(h.limit-l.limit)/float64(2*l.limit)) {
			h.max = h.limit // the connections added last brought too little
			return
		}
		h.last = step{limit: h.limit, rate: rate}
		h.limit = min(h.max, h.limit+max(1, h.limit/4))
	}
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
		h.max = max(1, min(h.max, h.limit-1))
		h.last = step{} // rates before the cut say nothing of the host now
		h.start = min(h.start, h.max)
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
