package fetch

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sleeps is a fake clock for the policy: it records each wait, sleeps none.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

// busy answers 503 with Retry-After: 86400 to its first n requests (every
// request when n < 0), then serves data.
func busy(data []byte, n int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, i int) {
		if n < 0 || i < n {
			w.Header().Set("Retry-After", "86400")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		serveRanges(data)(w, r, i)
	}
}

// A Retry-After far beyond the cap, with another source left: that source
// is left at once, with one line naming the wait asked for, and nothing is
// waited.
func TestRetryAfterBeyondTheCapMovesOn(t *testing.T) {
	data := randomBytes(2000, 31)
	first := newServer(t, busy(data, -1))
	second := newServer(t, serveRanges(data))
	e := newEnv(t)
	o := e.opts()
	o.MaxRetryAfter = 2 * time.Minute
	f := New(o)
	var s sleeps
	f.policy.sleep = s.sleep
	// Waiting the cap would also hold every request to the host back (a
	// real wait): the deadline fails such a run quickly.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := f.Install(ctx, []Target{e.target(model(data, first.URL+"/m.bin", second.URL+"/m.bin"))})
	require.NoError(t, res[0].Err)
	assert.Equal(t, 1, first.count(), "one request to the busy source")
	assert.Empty(t, s.d, "no wait")
	assert.Empty(t, e.obs.retries)
	require.Len(t, e.obs.failed, 1)
	assert.Contains(t, e.obs.failed[0], "http 503 service unavailable, asking to retry after 24h0m0s, beyond the 2m0s this run waits")
}

// The last source waits at the cap, and is read once the server answers.
func TestRetryAfterBeyondTheCapOnTheLastSourceWaitsTheCap(t *testing.T) {
	data := randomBytes(2000, 32)
	only := newServer(t, busy(data, 2))
	e := newEnv(t)
	o := e.opts()
	o.MaxRetryAfter = 10 * time.Millisecond // the host's own hold-back is a real wait
	f := New(o)
	var s sleeps
	f.policy.sleep = s.sleep
	res := f.Install(context.Background(), []Target{e.target(model(data, only.URL+"/m.bin"))})
	require.NoError(t, res[0].Err)
	assert.Equal(t, 3, only.count())
	require.Len(t, s.d, 2)
	for _, d := range s.d {
		assert.Equal(t, o.MaxRetryAfter, d, "clamped to the cap")
	}
	assert.Empty(t, e.obs.failed)
}
