package fetch

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
)

// connCounter is a loopback server that counts its TCP connections in use
// (a request being answered) and, per file, the requests in flight.
type connCounter struct {
	*httptest.Server
	mu      sync.Mutex
	active  int
	peak    int
	files   map[string]int // requests in flight per path
	peaks   map[string]int
	alone   map[string]int // per path: the peak while no other path was in flight
	arrived []int          // connections in use as each request came, itself included
	when    []time.Time
}

func newConnCounter(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *connCounter {
	c := &connCounter{files: map[string]int{}, peaks: map[string]int{}, alone: map[string]int{}}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Base(r.URL.Path)
		c.mu.Lock()
		c.files[name]++
		c.peaks[name] = max(c.peaks[name], c.files[name])
		if c.files[name] == c.active { // connections are counted before the handler runs
			c.alone[name] = max(c.alone[name], c.files[name])
		}
		c.arrived = append(c.arrived, c.active)
		c.when = append(c.when, time.Now())
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.files[name]--
			c.mu.Unlock()
		}()
		handle(w, r)
	}))
	// A connection is in use from the first byte of a request until its
	// answer is written (StateActive until StateIdle, or closed).
	inUse := map[net.Conn]bool{}
	c.Config.ConnState = func(conn net.Conn, s http.ConnState) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case s == http.StateActive && !inUse[conn]:
			inUse[conn] = true
			c.active++
			c.peak = max(c.peak, c.active)
		case s != http.StateActive && inUse[conn]:
			delete(inUse, conn)
			c.active--
		}
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

// askedRange is the byte range r asks of data ("bytes=FROM-TO", TO clipped
// to its end); ok is false when r asks for none.
func askedRange(r *http.Request, data []byte) (from, to int, ok bool) {
	if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &from, &to); err != nil {
		return 0, 0, false
	}
	return from, min(to, len(data)-1), true
}

// startPartial writes the head of a 206 answer carrying bytes [from, to]
// of total.
func startPartial(w http.ResponseWriter, from, to, total int) {
	w.Header().Set("ETag", `"v1"`)
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, total))
	w.Header().Set("Content-Length", fmt.Sprint(to-from+1))
	w.WriteHeader(http.StatusPartialContent)
}

// slowRanges serves data in pieces with a pause between them, so that
// requests overlap as they do on a paced link.
func slowRanges(files map[string][]byte) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		data := files[path.Base(r.URL.Path)]
		from, to, ok := askedRange(r, data)
		if !ok {
			from, to = 0, len(data)-1
		}
		startPartial(w, from, to, len(data))
		for off := from; off <= to; off += 16 << 10 {
			w.Write(data[off:min(off+16<<10, to+1)])
			w.(http.Flusher).Flush()
			time.Sleep(time.Millisecond)
		}
	}
}

// Two files on one host, a budget of four connections: the small file gets
// its fair share while both run, and once it is done the large one is
// split over every connection it freed; the host never sees a fifth.
func TestConnectionsFollowTheWorkWithinTheHostCap(t *testing.T) {
	big, small := randomBytes(3<<20, 90), randomBytes(512<<10, 91)
	srv := newConnCounter(t, slowRanges(map[string][]byte{"big.bin": big, "small.bin": small}))
	e := newEnv(t)
	o := e.opts()
	o.HostConnections, o.Connections, o.Jobs = 4, 4, 2
	o.HostMaxConnections = 4 // a fixed budget: what it shares, not how it grows
	o.ChunkSize = 64 << 10
	mb, ms := model(big, srv.URL+"/big.bin"), model(small, srv.URL+"/small.bin")
	mb.Name, mb.Path, ms.Name, ms.Path = "big", "big.bin", "small", "small.bin"
	res := New(o).Install(context.Background(), []Target{e.target(mb), e.target(ms)})
	for _, r := range res {
		require.NoError(t, r.Err)
	}
	assert.Equal(t, big, readFile(t, res[0].Dest))
	assert.Equal(t, small, readFile(t, res[1].Dest))
	assert.LessOrEqual(t, srv.peak, 4, "never more connections than the host's budget")
	assert.Equal(t, 4, srv.alone["big.bin"], "the large file took every connection the small one freed")
	assert.GreaterOrEqual(t, srv.peaks["small.bin"], 2, "the small file got its share while both ran")
}

// A server that allows three requests at a time and answers 429 (Retry-After:
// 1) beyond: the host's budget is halved for every file of the host at
// once, and grows back by one a round, so after the first refusals the
// server sees about half the connections at once that it saw before, the
// shared budget notwithstanding.
func TestServerThatAllowsFewerSeesFewer(t *testing.T) {
	files := map[string][]byte{"a.bin": randomBytes(768<<10, 92), "b.bin": randomBytes(768<<10, 93)}
	serve := slowRanges(files)
	var mu sync.Mutex
	inflight, refused, chunks := 0, 0, 0
	full := make(chan struct{}) // the first six chunk requests are all in
	srv := newConnCounter(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") {
			mu.Lock()
			if chunks++; chunks == 6 {
				close(full)
			}
			first := chunks <= 6
			mu.Unlock()
			if first { // hold the first wave until the budget is used up
				select {
				case <-full:
				case <-time.After(time.Second):
				}
			}
		}
		mu.Lock()
		if inflight >= 3 {
			refused++
			mu.Unlock()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		inflight++
		mu.Unlock()
		defer func() { mu.Lock(); inflight--; mu.Unlock() }()
		serve(w, r)
	})
	e := newEnv(t)
	o := e.opts()
	o.Retries = 5
	o.HostConnections, o.Connections, o.Jobs = 6, 6, 2
	o.HostMaxConnections = 6 // no growth here: grow_test.go has it
	o.ChunkSize = 128 << 10
	var targets []Target
	for _, name := range []string{"a.bin", "b.bin"} {
		m := model(files[name], srv.URL+"/"+name)
		m.Name, m.Path = name, name
		targets = append(targets, e.target(m))
	}
	for _, r := range New(o).Install(context.Background(), targets) {
		require.NoError(t, r.Err)
	}
	require.Positive(t, refused)
	assert.LessOrEqual(t, srv.peak, 6, "never more connections than the host's budget")
	// Waves: requests that arrive less than 300ms after the one before
	// (each wave after the first comes when the host's hold ends); per wave,
	// the requests and the most connections in use as one arrived.
	var reqs, conns []int
	for i, n := range srv.arrived {
		if i == 0 || srv.when[i].Sub(srv.when[i-1]) > 300*time.Millisecond {
			reqs, conns = append(reqs, 0), append(conns, 0)
		}
		reqs[len(reqs)-1]++
		conns[len(conns)-1] = max(conns[len(conns)-1], n)
	}
	t.Logf("per wave: requests %v, connections in use %v; %d refused", reqs, conns, refused)
	require.Greater(t, len(reqs), 2, "the 429s held the host back")
	assert.Equal(t, 6, conns[0], "the whole budget before the first refusal")
	for i := 1; i < len(conns); i++ {
		// Halved, and grown by one only after a round of successes. (The
		// requests of a wave are only logged: under -race on a busy machine
		// a wave's boundary, found by timing, can take in the next round's
		// first request; the connections in use at once are what the
		// budget bounds.)
		assert.LessOrEqual(t, conns[i], o.HostConnections/2+1, "after its 429s the server sees fewer connections at once")
	}
	// The first wave's three, and at most two more: a budget grown back by
	// one per success instead of per round climbs into the refusals again
	// (seven of them).
	assert.LessOrEqual(t, refused, 5, "connections were cut instead of hammering")
}

// A free slot goes to the waiting claim with the fewest requests in flight,
// not to whichever waiter wakes first.
func TestHostSlotGoesToTheClaimWithFewest(t *testing.T) {
	for range 20 {
		h := newHostLimiter(2, 2, time.Now)
		a, b := withClaim(t.Context(), newClaim(1<<30)), withClaim(t.Context(), newClaim(1))
		ra1, err := h.acquire(a)
		require.NoError(t, err)
		_, err = h.acquire(a)
		require.NoError(t, err)
		got := make(chan string, 3)
		wait := func(ctx context.Context, name string, n int) {
			go func() {
				if _, err := h.acquire(ctx); err == nil {
					got <- name
				}
			}()
			require.Eventually(t, func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				q := h.waiting[claimOf(ctx)]
				return q != nil && q.n == n
			}, time.Second, time.Millisecond)
		}
		wait(a, "a", 1)
		wait(a, "a", 2)
		wait(b, "b", 1)
		ra1(true)
		assert.Equal(t, "b", <-got, "b has none in flight, a has one")
	}
}

// A reader slower than the network (bzip2 on busy cores) is fed as fast as
// it reads: the download does not run a whole window ahead of it, holding
// buffers and connections that other files could use.
func TestSlowReaderIsFedAsItReads(t *testing.T) {
	data := randomBytes(40*(64<<10), 94)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	o := parallelOpts(e)
	o.Connections = 8 // a window of 10 chunks
	f := New(o)
	src := f.httpSource(srcOf(srv.URL+"/m.bin", decompress.None).Parsed, int64(len(data)), func() *retrier { return &retrier{p: &f.policy} })
	b, err := src.open(t.Context(), 0)
	require.NoError(t, err)
	defer b.Close()
	buf := make([]byte, 64<<10)
	for k := 1; k <= 12; k++ {
		_, err := io.ReadFull(b, buf)
		require.NoError(t, err)
		time.Sleep(30 * time.Millisecond) // the reader's work on this chunk
		// The first window goes out before the reader's pace is known
		// (10 chunks and the probe); after it, a whole window ahead would
		// be k+10 requests.
		if k >= 10 {
			assert.LessOrEqual(t, srv.count(), k+4, "asked for at most a few chunks beyond what was read")
		}
	}
	rest, err := io.ReadAll(b)
	require.NoError(t, err)
	assert.Equal(t, data[12*len(buf):], rest)
}

func TestReadaheadIsEnoughWhenTheChunksAheadOutlastTwoFetches(t *testing.T) {
	a := newReadahead()
	for i := range int64(6) {
		a.ask(i)
	}
	a.fetched(200 * time.Millisecond)
	assert.False(t, a.enough(), "the reader's pace is not known yet")
	a.use = 100 * time.Millisecond
	assert.True(t, a.enough(), "six chunks (600ms) outlast two fetches and a read (500ms)")
	a.taken(0)
	assert.False(t, a.enough(), "five left: 500ms, no longer than two fetches and a read")
	a.use, a.fetch = 10*time.Millisecond, time.Millisecond
	assert.True(t, a.enough(), "with chunks that come at once, a few ahead are enough")
	a.taken(4)
	assert.False(t, a.enough(), "one is not")
}

// lock probes several models at once on one Fetcher: each probe gets its
// own bytes, and the host's budget is shared as between the artifacts of
// one Install.
func TestProbesRunAtOnceOnOneFetcher(t *testing.T) {
	files := map[string][]byte{}
	for i := range 4 {
		files[fmt.Sprintf("m%d.bin", i)] = randomBytes(300_000+i*50_000, uint64(95+i))
	}
	srv := newConnCounter(t, slowRanges(files))
	e := newEnv(t)
	o := parallelOpts(e)
	o.HostConnections, o.HostMaxConnections = 3, 3
	f := New(o)
	var wg sync.WaitGroup
	for name, data := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := model(nil, srv.URL+"/"+name)
			p, err := f.Probe(context.Background(), m, m.Sources[0], 1<<20)
			assert.NoError(t, err)
			assert.Equal(t, digest.Of(data), p.Installed, name)
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, srv.peak, 3, "one host budget for every probe")
}

// The chunk buffers are the Fetcher's, reused across files: after three
// files of ten chunks each, the free list holds what was made, at most one
// buffer per token of the budget.
func TestChunkBuffersAreSharedAcrossFiles(t *testing.T) {
	e := newEnv(t)
	o := parallelOpts(e)
	o.BufferBytes = 3 * o.ChunkSize
	o.Jobs = 1
	f := New(o)
	for i := range 3 {
		data := randomBytes(10*int(o.ChunkSize), uint64(110+i))
		srv := newServer(t, serveRanges(data))
		m := model(data, srv.URL+"/m.bin")
		m.Name, m.Path = fmt.Sprint("m", i), fmt.Sprintf("m%d.bin", i)
		require.NoError(t, f.Install(context.Background(), []Target{e.target(m)})[0].Err)
	}
	assert.NotEmpty(t, f.free, "buffers were kept for the next file")
	assert.LessOrEqual(t, len(f.free), cap(f.chunks))
	for len(f.free) > 0 {
		assert.Equal(t, int(o.ChunkSize), cap(<-f.free))
	}
}
