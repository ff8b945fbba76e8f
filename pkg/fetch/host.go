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
// for the server's delay; each success grows it by one again, up to max
// (additive increase, multiplicative decrease, as TCP does).
type hostLimiter struct {
	mu        sync.Mutex
	max       int
	limit     int
	inflight  int
	peak      int // most requests in flight at once since the host was last idle
	notBefore time.Time
	cutUntil  time.Time // one cut per throttling episode
	changed   chan struct{}
	now       func() time.Time
}

func newHostLimiter(max int, now func() time.Time) *hostLimiter {
	return &hostLimiter{max: max, limit: max, changed: make(chan struct{}), now: now}
}

// acquire waits for a connection slot; release gives it back, ok telling
// whether the request succeeded.
func (h *hostLimiter) acquire(ctx context.Context) (release func(ok bool), err error) {
	for {
		h.mu.Lock()
		now := h.now()
		wait := h.notBefore.Sub(now)
		if wait <= 0 && h.inflight < h.limit {
			if h.inflight == 0 {
				h.peak = 0 // idle: what was in use before says nothing now
			}
			h.inflight++
			h.peak = max(h.peak, h.inflight)
			h.mu.Unlock()
			var once sync.Once
			return func(ok bool) { once.Do(func() { h.release(ok) }) }, nil
		}
		changed := h.changed
		h.mu.Unlock()
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			// A little jitter, so the requests held back do not all leave
			// at the same instant.
			timer = time.NewTimer(wait + rand.N(100*time.Millisecond))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-changed:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			return nil, err
		}
	}
}

func (h *hostLimiter) release(ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inflight--
	if ok && h.limit < h.max {
		h.limit++
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
		h.cutUntil = now.Add(max(d, time.Second))
	}
	return h.peak > h.limit
}

func (h *hostLimiter) broadcast() {
	close(h.changed)
	h.changed = make(chan struct{})
}
