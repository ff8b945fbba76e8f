package fetch

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/fsutil"
)

// One connection to a host that always throttles: cutting the host's
// budget (16 → 8 → …) lowers no connection in use, so every throttled
// answer counts and the source gets exactly 1 + Retries tries (found by
// the attack run: five waits with --retries 1).
func TestThrottledOneConnectionTriesAreOnePlusRetries(t *testing.T) {
	for _, retries := range []int{0, 1, 3} {
		data := randomBytes(2000, 41)
		only := newServer(t, busy(data, -1))
		e := newEnv(t)
		o := e.opts()
		o.Retries = retries
		o.Connections = 1
		o.MaxRetryAfter = time.Millisecond // the host's hold-back is a real wait
		f := New(o)
		var s sleeps
		f.policy.sleep = s.sleep
		res := f.Install(t.Context(), []Target{e.target(model(data, only.URL+"/m.bin"))})
		require.Error(t, res[0].Err)
		assert.Equal(t, 1+retries, only.count(), "requests with --retries %d", retries)
		assert.Len(t, s.d, retries, "waits with --retries %d", retries)
	}
}

// The same without a usable Retry-After, over two sources: each source
// gets 1 + Retries tries, no more.
func TestThrottledWithoutRetryAfterTriesPerSource(t *testing.T) {
	data := randomBytes(2000, 42)
	h := func(w http.ResponseWriter, r *http.Request, i int) {
		w.Header().Set("Retry-After", "abc")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	first, second := newServer(t, h), newServer(t, h)
	e := newEnv(t)
	o := e.opts()
	o.Retries = 1
	f := New(o)
	var s sleeps
	f.policy.sleep = s.sleep
	res := f.Install(t.Context(), []Target{e.target(model(data, first.URL+"/m.bin", second.URL+"/m.bin"))})
	require.Error(t, res[0].Err)
	assert.Equal(t, 2, first.count())
	assert.Equal(t, 2, second.count())
}

// A Retry-After too large for any integer is beyond the cap, not absent:
// with another source left, that source is left at once, the wait named
// "more than 24h" (before, it was ignored and retried with backoff).
func TestRetryAfterOverflowMovesOn(t *testing.T) {
	data := randomBytes(2000, 43)
	first := newServer(t, func(w http.ResponseWriter, r *http.Request, i int) {
		w.Header().Set("Retry-After", "999999999999999999999999")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	second := newServer(t, serveRanges(data))
	e := newEnv(t)
	f := New(e.opts())
	var s sleeps
	f.policy.sleep = s.sleep
	res := f.Install(t.Context(), []Target{e.target(model(data, first.URL+"/m.bin", second.URL+"/m.bin"))})
	require.NoError(t, res[0].Err)
	assert.Equal(t, 1, first.count())
	assert.Empty(t, s.d)
	require.Len(t, e.obs.failed, 1)
	assert.Contains(t, e.obs.failed[0], "asking to retry after more than 24h, beyond the 2m0s this run waits")
}

// A killed lock leaves a partial blob in the cache's temp folder; the next
// Probe (lock's read of a source) removes it, as a fetch does.
func TestProbeSweepsTheCachesTempFiles(t *testing.T) {
	data := randomBytes(1000, 44)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	tmp := filepath.Join(e.cache.Dir(), "tmp")
	require.NoError(t, os.MkdirAll(tmp, 0o755))
	stale := filepath.Join(tmp, fsutil.TempPrefix+"blob.abcdef"+fsutil.TempSuffix)
	require.NoError(t, os.WriteFile(stale, []byte("partial"), 0o600))
	f := New(e.opts())
	m := model(data, srv.URL+"/m.bin")
	_, err := f.Probe(t.Context(), m, m.Sources[0], 1<<20)
	require.NoError(t, err)
	assert.NoFileExists(t, stale)
}

// A credential no HTTP header can carry (HF_TOKEN with a CR/LF) is final
// at once, not retried on net/http's "invalid header field value", and the
// message never shows it.
func TestCredentialWithControlCharacterIsFinal(t *testing.T) {
	data := randomBytes(1000, 45)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	o := e.opts()
	o.Client = NewClient(nil, func(string, string) string { return "Bearer tok\r\nX-Evil: 1" }, time.Second)
	r := e.install(t, o, model(data, srv.URL+"/m.bin"))
	require.Error(t, r.Err)
	assert.Empty(t, e.obs.retries, "not retried")
	assert.Equal(t, 0, srv.count(), "nothing sent")
	assert.Contains(t, r.Err.Error(), "holds a control character (such as CR or LF), which no HTTP header can carry")
	assert.NotContains(t, r.Err.Error(), "Evil")
}
