package fetch

import (
	"net/http"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// budgetClock is a host budget on a clock the test moves.
type budgetClock struct {
	t   *testing.T
	now time.Time
	h   *hostLimiter
}

func newBudgetClock(t *testing.T, start, most int) *budgetClock {
	c := &budgetClock{t: t, now: time.Unix(1000, 0)}
	c.h = newHostLimiter(start, most, func() time.Time { return c.now })
	return c
}

// round runs one round of the budget: as many requests as it allows, all
// succeeding, bringing bytes in over d; waited says whether another
// request waited for a slot meanwhile (the budget, not the work, bound).
func (c *budgetClock) round(bytes int64, d time.Duration, waited bool) {
	n := c.h.limit
	releases := make([]func(bool), n)
	for i := range releases {
		r, err := c.h.acquire(c.t.Context())
		require.NoError(c.t, err)
		releases[i] = r
	}
	if waited {
		c.h.mu.Lock()
		c.h.round.waited = true
		c.h.mu.Unlock()
	}
	c.h.recv.Add(bytes)
	c.now = c.now.Add(d)
	for _, r := range releases {
		r(true)
	}
}

// A server that paces each connection gets one more per round, each
// faster than the last, up to the most the budget may grow to; one whose
// link is full stops the growth at the first step that brought nothing.
func TestBudgetGrowsWhileEachConnectionMakesTheHostFaster(t *testing.T) {
	paced := newBudgetClock(t, 4, 8)
	var limits []int
	for range 8 {
		paced.round(int64(paced.h.limit)<<20, time.Second, true) // 1 MiB/s a connection
		limits = append(limits, paced.h.limit)
	}
	assert.Equal(t, []int{5, 6, 7, 8, 8, 8, 8, 8}, limits, "one more per round, up to the most")

	link := newBudgetClock(t, 4, 8)
	limits = nil
	for range 5 {
		link.round(4<<20, time.Second, true) // 4 MiB/s whatever the connections
		limits = append(limits, link.h.limit)
	}
	assert.Equal(t, []int{5, 5, 5, 5, 5}, limits, "the fifth connection brought nothing: no sixth")

	// A step that brings less than half a connection's share stops it too.
	half := newBudgetClock(t, 4, 8)
	half.round(4<<20, time.Second, true)
	half.round(4<<20+(1<<20)/2-1, time.Second, true)
	assert.Equal(t, 5, half.h.limit)
	half.round(8<<20, time.Second, true)
	assert.Equal(t, 5, half.h.limit, "stopped for the rest of the run")
}

// The budget grows past its start only when requests wait for a slot: a
// host whose files ask for less (readers behind, few files) keeps it.
func TestBudgetGrowsOnlyWhenRequestsWait(t *testing.T) {
	c := newBudgetClock(t, 4, 8)
	for i := range 6 {
		c.round(int64(4+i)<<20, time.Second, false)
	}
	assert.Equal(t, 4, c.h.limit)
}

// After a cut the budget grows back by rounds, but never again to the
// connections in use when the server refused, nor past its start without
// a faster round.
func TestCutBudgetNeverRegrowsToWhereTheServerRefused(t *testing.T) {
	c := newBudgetClock(t, 4, 16)
	for range 4 {
		c.round(int64(c.h.limit)<<20, time.Second, true)
	}
	require.Equal(t, 8, c.h.limit)
	c.h.peak = 8
	assert.True(t, c.h.slowDown(time.Second), "8 in use, cut to 4")
	assert.Equal(t, 4, c.h.limit)
	assert.Equal(t, 7, c.h.max, "never again 8")
	c.now = c.now.Add(2 * time.Second)
	for range 10 {
		c.round(int64(c.h.limit)<<20, time.Second, true)
	}
	assert.Equal(t, 7, c.h.limit, "grown back, to one fewer than were refused")

	low := newBudgetClock(t, 16, 32)
	low.h.peak = 16
	low.h.slowDown(time.Second)
	require.Equal(t, 8, low.h.limit)
	low.now = low.now.Add(2 * time.Second)
	for range 10 {
		low.round(int64(low.h.limit)<<20, time.Second, false)
	}
	assert.Equal(t, 15, low.h.limit, "below its start the budget grows back by rounds, waiting or not, to one fewer than were refused")
}

// pacedRanges serves files' ranges in 8 KiB pieces, each after pace says
// how long it takes to send.
func pacedRanges(files map[string][]byte, pace func(n int) time.Duration) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		data := files[path.Base(r.URL.Path)]
		from, to, ok := askedRange(r, data)
		if !ok {
			from, to = 0, len(data)-1
		}
		startPartial(w, from, to, len(data))
		for off := from; off <= to; off += 8 << 10 {
			end := min(off+8<<10, to+1)
			time.Sleep(pace(end - off))
			if _, err := w.Write(data[off:end]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

// linkPace is one link of rate bytes/s shared by every connection: each
// piece waits for its turn on it.
func linkPace(rate float64) func(n int) time.Duration {
	var mu sync.Mutex
	var next time.Time
	return func(n int) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		next = maxTime(next, now).Add(time.Duration(float64(n) / rate * float64(time.Second)))
		return next.Sub(now)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func growOpts(e *env, start, most int) Options {
	o := e.opts()
	o.HostConnections, o.HostMaxConnections = start, most
	o.Connections = most
	o.ChunkSize = 64 << 10
	return o
}

// One file from a server that paces each connection (as CDNs do): the host
// gets more connections than it started with, never more than the most.
func TestPacedServerIsGivenMoreConnections(t *testing.T) {
	data := randomBytes(4<<20, 96)
	perConn := func(n int) time.Duration { return time.Duration(n) * time.Second / (1 << 20) } // 1 MiB/s
	srv := newConnCounter(t, pacedRanges(map[string][]byte{"m.bin": data}, perConn))
	e := newEnv(t)
	r := e.install(t, growOpts(e, 2, 6), model(data, srv.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, r.Dest))
	assert.GreaterOrEqual(t, srv.peak, 4, "grown while each connection added made it faster")
	assert.LessOrEqual(t, srv.peak, 6, "never past the most")
}

// The same file behind one full link: a connection more brings nothing, so
// the host keeps about what it started with.
func TestFullLinkIsNotGivenMoreConnections(t *testing.T) {
	data := randomBytes(3<<20, 97)
	srv := newConnCounter(t, pacedRanges(map[string][]byte{"m.bin": data}, linkPace(2<<20)))
	e := newEnv(t)
	r := e.install(t, growOpts(e, 2, 8), model(data, srv.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, r.Dest))
	assert.LessOrEqual(t, srv.peak, 4, "the growth stopped at the first step that was not faster")
}

// The budget grows by a quarter a round: from 16, a CDN that paces each
// connection gets 32 in four rounds, not sixteen.
func TestBudgetGrowsByAQuarterARound(t *testing.T) {
	c := newBudgetClock(t, 16, 32)
	var limits []int
	for range 5 {
		c.round(int64(c.h.limit)<<20, time.Second, true)
		limits = append(limits, c.h.limit)
	}
	assert.Equal(t, []int{20, 25, 31, 32, 32}, limits)
}

// The budget's default most is what the default buffers hold: a request in
// flight holds a chunk's share of them, so a host could never see more
// (docs/DESIGN.md: up to 24, as many 4 MiB chunks as 96 MiB hold).
func TestDefaultMostIsWhatTheBuffersHold(t *testing.T) {
	o := New(Options{}).o
	assert.Equal(t, 16, o.HostConnections)
	assert.Equal(t, int(o.BufferBytes/o.ChunkSize), o.HostMaxConnections)
	assert.Equal(t, 24, o.HostMaxConnections)
}
