package fetch

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What CDNs and storage hosts do that a plain HTTP/1.1 server does not, played
// by loopback servers: HTTP/2 with a pace per TCP connection, redirects to a
// storage host with expiring URLs, rate limits, and proxies that refuse.

// trustingClient is NewClient trusting srv's test certificate.
func trustingClient(srv *httptest.Server, creds Credentials) *http.Client {
	c := NewClient(nil, creds, 2*time.Second)
	c.Transport.(*authTransport).next.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	return c
}

func TestRangedChunksUseSeparateConnectionsOverHTTP2(t *testing.T) {
	data := randomBytes(1_000_000, 80)
	var conns, active, peak atomic.Int32
	var h2 atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			h2.Store(true)
		}
		time.Sleep(5 * time.Millisecond) // let chunks overlap
		http.ServeContent(w, r, "m.bin", time.Unix(0, 0), bytes.NewReader(data))
	}))
	srv.EnableHTTP2 = true
	var mu sync.Mutex
	state := map[net.Conn]http.ConnState{}
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateNew {
			conns.Add(1)
		}
		if state[c] == http.StateActive {
			active.Add(-1)
		}
		if s == http.StateActive {
			if n := active.Add(1); n > peak.Load() {
				peak.Store(n)
			}
		}
		state[c] = s
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	e := newEnv(t)
	o := parallelOpts(e)
	o.Client = trustingClient(srv, nil)
	r := e.install(t, o, model(data, srv.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, r.Dest))
	assert.False(t, h2.Load(), "ranged work stays on HTTP/1.1, where each request has its own connection")
	assert.Greater(t, peak.Load(), int32(1), "chunks spread over several TCP connections at once")
	assert.LessOrEqual(t, peak.Load(), int32(4), "never more than --connections at once")
}

func TestRedirectIsResolvedOncePerFile(t *testing.T) {
	data := randomBytes(1_000_000, 81)
	storage := newServer(t, serveRanges(data))
	origin := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, storage.URL+"/blob/m.bin", http.StatusFound)
	})
	e := newEnv(t)
	r := e.install(t, parallelOpts(e), model(data, origin.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, r.Dest))
	assert.Equal(t, 1, origin.count(), "the redirect is followed once, not once per chunk")
	assert.Equal(t, 16, storage.count(), "every chunk goes to the storage host")
}

func TestExpiredRedirectTargetIsResolvedAgain(t *testing.T) {
	data := randomBytes(1_000_000, 82)
	var sig atomic.Int32 // the only signature the storage host accepts
	var served atomic.Int32
	storage := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Query().Get("sig") != strconv.Itoa(int(sig.Load())) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if served.Add(1) == 5 {
			sig.Add(1) // this URL expires after it answers
		}
		serveRanges(data)(w, r, n)
	})
	origin := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, storage.URL+"/blob?sig="+strconv.Itoa(int(sig.Load())), http.StatusFound)
	})
	e := newEnv(t)
	o := parallelOpts(e)
	o.Connections = 2
	r := e.install(t, o, model(data, origin.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, r.Dest))
	// Resolved again after the target expired: once, or once per chunk in
	// flight at that moment; never once per chunk.
	assert.GreaterOrEqual(t, origin.count(), 2)
	assert.LessOrEqual(t, origin.count(), 1+o.Connections)
}

// limitReq answers like nginx's limit_req: one request per interval, with a
// burst of one, and 429 with Retry-After beyond it.
func limitReq(interval time.Duration, retryAfter int, h func(http.ResponseWriter, *http.Request, int)) (func(http.ResponseWriter, *http.Request, int), *atomic.Int32) {
	var mu sync.Mutex
	var next time.Time
	var refused atomic.Int32
	return func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		now := time.Now()
		if now.Before(next) {
			mu.Unlock()
			refused.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		next = now.Add(interval)
		mu.Unlock()
		h(w, r, n)
	}, &refused
}

func TestRateLimitedHostIsFetchedPolitely(t *testing.T) {
	data := randomBytes(2<<20, 83)
	h, refused := limitReq(400*time.Millisecond, 1, serveRanges(data))
	srv := newServer(t, h)
	e := newEnv(t)
	o := e.opts()
	o.Retries = 5 // the command line's default
	o.Connections = 8
	o.ChunkSize = 256 << 10
	o.BackoffBase, o.BackoffMax = 500*time.Millisecond, 30*time.Second
	r := e.install(t, o, model(data, srv.URL+"/m.bin"))
	require.NoError(t, r.Err, "a file one connection would fetch is never failed by our own parallelism")
	assert.Equal(t, data, readFile(t, r.Dest))
	assert.Positive(t, refused.Load(), "the limit was hit")
	assert.Less(t, int(refused.Load()), 40, "connections were cut instead of hammering")
}

func TestHostLimiterCutsAndGrows(t *testing.T) {
	now := time.Unix(1000, 0)
	h := newHostLimiter(8, 8, func() time.Time { return now })
	h.peak = 8 // eight in flight at once, the throttled one among them
	assert.True(t, h.slowDown(time.Second), "8 → 4, with 8 in use")
	assert.Equal(t, 4, h.limit)
	assert.True(t, h.slowDown(time.Second), "the same episode: no second cut, still free")
	assert.Equal(t, 4, h.limit)
	now = now.Add(2 * time.Second)
	h.peak = 4
	assert.True(t, h.slowDown(time.Second), "4 → 2")
	assert.Equal(t, 2, h.limit)
	now = now.Add(2 * time.Second)
	h.peak = 2
	assert.True(t, h.slowDown(time.Second), "2 → 1")
	assert.Equal(t, 1, h.limit)
	now = now.Add(2 * time.Second)
	h.peak = 1
	assert.False(t, h.slowDown(time.Second), "at one connection the try counts")
	h = newHostLimiter(16, 16, func() time.Time { return now })
	h.peak = 1
	assert.False(t, h.slowDown(time.Second), "one connection alone: 16 → 8 lowers nothing, the try counts")
	assert.Equal(t, 8, h.limit)
	h.peak = 8
	now = now.Add(2 * time.Second)
	assert.True(t, h.slowDown(time.Second), "8 in use, 8 → 4")
	now = now.Add(2 * time.Second)
	release, err := h.acquire(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, h.peak, "acquired on an idle host: the peak starts again")
	release(true)
	assert.Equal(t, 4, h.limit, "one success is not yet a round")
	for range 3 {
		release, err := h.acquire(t.Context())
		require.NoError(t, err)
		release(true)
	}
	assert.Equal(t, 5, h.limit, "a round of successes (as many as the budget) grows it again")
}

func TestRetryAfterGetsJitterWithinTheClamp(t *testing.T) {
	r := &retrier{p: &policy{Retries: 5, Base: time.Millisecond, Cap: time.Second, MaxRetryAfter: 2 * time.Second}}
	seen := map[time.Duration]bool{}
	for range 50 {
		d, _ := r.delay(&StatusError{Code: 429, RetryAfter: time.Second, HasRetryAfter: true})
		assert.GreaterOrEqual(t, d, time.Second)
		assert.LessOrEqual(t, d, 2*time.Second)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 10, "connections told the same instant do not come back together")
	d, _ := r.delay(&StatusError{Code: 503, RetryAfter: time.Hour, HasRetryAfter: true})
	assert.Equal(t, 2*time.Second, d, "clamped")
}

func TestRedirectToAnotherSchemeIsPermanent(t *testing.T) {
	for _, target := range []string{"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/x"} {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			w.Header().Set("Location", target)
			w.WriteHeader(http.StatusFound)
		})
		e := newEnv(t)
		r := e.install(t, e.opts(), model([]byte("x"), srv.URL+"/m.bin"))
		require.Error(t, r.Err)
		assert.Contains(t, r.Err.Error(), "refusing a redirect to a "+strings.SplitN(target, ":", 2)[0])
		assert.Equal(t, 1, srv.count(), "not retried: "+target)
	}
}

func TestProxyAuthRequiredOnConnectIsPermanent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var connects atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				n, _ := c.Read(buf)
				if strings.HasPrefix(string(buf[:n]), "CONNECT ") {
					connects.Add(1)
				}
				_, _ = c.Write([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n"))
			}()
		}
	}()
	proxyURL, _ := http.NewRequest("GET", "http://"+ln.Addr().String(), nil)
	e := newEnv(t)
	o := e.opts()
	o.Client = NewClient(http.ProxyURL(proxyURL.URL), nil, time.Second)
	r := e.install(t, o, model([]byte("x"), "https://models.example/m.bin"))
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "proxy: http 407 proxy authentication required")
	assert.Equal(t, int32(1), connects.Load(), "a 407 is permanent over CONNECT as over plain http")
}
