package fetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parallelOpts(e *env) Options {
	o := e.opts()
	o.Connections = 4
	o.ChunkSize = 64 << 10
	return o
}

// concurrency wraps a handler and records the most requests in flight at once.
func concurrency(h func(http.ResponseWriter, *http.Request, int), peak *atomic.Int32) func(http.ResponseWriter, *http.Request, int) {
	var cur atomic.Int32
	return func(w http.ResponseWriter, r *http.Request, n int) {
		c := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if c <= p || peak.CompareAndSwap(p, c) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond) // let requests overlap
		h(w, r, n)
	}
}

func TestParallelRangedDownload(t *testing.T) {
	data := randomBytes(1_000_000, 40)
	var peak atomic.Int32
	srv := newServer(t, concurrency(serveRanges(data), &peak))
	e := newEnv(t)
	r := e.install(t, parallelOpts(e), model(data, srv.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, r.Dest))
	chunks := (len(data) + 64<<10 - 1) / (64 << 10)
	assert.Equal(t, chunks, srv.count(), "one request per chunk, the first being the probe")
	assert.Equal(t, "bytes=0-65535", srv.request(0).Header.Get("Range"), "probed with a ranged GET")
	assert.Greater(t, peak.Load(), int32(1), "chunks overlap")
	assert.LessOrEqual(t, peak.Load(), int32(4), "never more than --connections")
	assert.Equal(t, int64(len(data)), r.Served)
}

func TestParallelSmallFileAndNoRanges(t *testing.T) {
	small := randomBytes(10_000, 41)
	srv := newServer(t, serveRanges(small))
	e := newEnv(t)
	r := e.install(t, parallelOpts(e), model(small, srv.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, 1, srv.count(), "a file smaller than a chunk takes one request")

	big := randomBytes(500_000, 42)
	plain := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		w.Write(big) // ignores Range
	})
	e = newEnv(t)
	r = e.install(t, parallelOpts(e), model(big, plain.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, big, readFile(t, r.Dest))
	assert.Equal(t, 1, plain.count(), "a server without ranges is read over one connection")
}

func TestParallelChunkFaults(t *testing.T) {
	data := randomBytes(800_000, 43)
	for _, tc := range []struct {
		name   string
		handle func(w http.ResponseWriter, r *http.Request, n int)
		idle   time.Duration
	}{
		{
			name: "a chunk resets mid-way and resumes inside the chunk",
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 3 {
					hj, _ := w.(http.Hijacker)
					conn, bw, _ := hj.Hijack()
					var from, to int
					fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &from, &to)
					fmt.Fprintf(bw, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n", from, to, len(data), to-from+1)
					bw.Write(data[from : from+1000])
					bw.Flush()
					conn.Close()
					return
				}
				serveRanges(data)(w, r, n)
			},
		},
		{
			name: "a chunk gets 503",
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 2 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				serveRanges(data)(w, r, n)
			},
		},
		{
			name: "a chunk stalls",
			idle: 200 * time.Millisecond,
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 4 {
					<-r.Context().Done()
					return
				}
				serveRanges(data)(w, r, n)
			},
		},
		{
			name: "the server stops honouring ranges: falls back to one connection",
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n >= 2 {
					w.Header().Set("Content-Length", fmt.Sprint(len(data)))
					w.Write(data)
					return
				}
				serveRanges(data)(w, r, n)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.handle)
			e := newEnv(t)
			o := parallelOpts(e)
			if tc.idle > 0 {
				o.IdleTimeout = tc.idle
			}
			r := e.install(t, o, model(data, srv.URL+"/m.bin"))
			require.NoError(t, r.Err)
			assert.Equal(t, data, readFile(t, r.Dest))
			e.assertClean(t, "sub/dir/m.bin")
		})
	}
}

func TestParallelCorruptIsIntegrity(t *testing.T) {
	data := randomBytes(600_000, 44)
	bad := append([]byte{}, data...)
	bad[500_000] ^= 1
	srv := newServer(t, serveRanges(bad))
	e := newEnv(t)
	r := e.install(t, parallelOpts(e), model(data, srv.URL+"/m.bin"))
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindIntegrity, fe.Kind)
	assert.True(t, strings.Contains(fe.Error(), "sha256 mismatch"))
	e.assertClean(t)
}

func TestParallelSharedBufferBudget(t *testing.T) {
	// Three files share a budget of two chunk buffers: everything still
	// completes (tokens are taken in chunk order, so no reader starves), and
	// a failed download gives its tokens back for the next one.
	e := newEnv(t)
	o := parallelOpts(e)
	o.BufferBytes = 2 * o.ChunkSize
	o.Jobs = 3
	f := New(o)
	var targets []Target
	for i := 0; i < 3; i++ {
		data := randomBytes(700_000, uint64(50+i))
		srv := newServer(t, serveRanges(data))
		m := model(data, srv.URL+"/m.bin")
		m.Name, m.Path = fmt.Sprint("m", i), fmt.Sprintf("m%d.bin", i)
		targets = append(targets, e.target(m))
	}
	for _, r := range f.Install(context.Background(), targets) {
		require.NoError(t, r.Err)
	}
	assert.Len(t, f.chunks, 0, "every buffer token was given back")

	data := randomBytes(700_000, 60)
	bad := append([]byte{}, data...)
	bad[650_000] ^= 1
	corrupt := newServer(t, serveRanges(bad))
	m := model(data, corrupt.URL+"/bad.bin")
	m.Path = "bad.bin"
	r := f.Install(context.Background(), []Target{e.target(m)})[0]
	require.Error(t, r.Err)
	assert.Len(t, f.chunks, 0, "a failed download gives its tokens back")
}

// The chunk the reader waits for is read as its bytes come: with the first
// half of every chunk sent and the rest held back, the reader gets that
// half of the first chunk at once, not a chunk's time later.
func TestChunkIsReadAsItArrives(t *testing.T) {
	const chunk = 64 << 10
	data := randomBytes(4*chunk, 98)
	hold := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		from, to, ok := askedRange(r, data)
		if !ok {
			http.Error(w, "ranges only", http.StatusBadRequest)
			return
		}
		startPartial(w, from, to, len(data))
		half := from + (to-from+1)/2
		w.Write(data[from:half])
		w.(http.Flusher).Flush()
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
		w.Write(data[half : to+1])
	})
	defer close(hold)
	e := newEnv(t)
	o := parallelOpts(e)
	o.ChunkSize = chunk
	f := New(o)
	src := f.httpSource(srcOf(srv.URL+"/m.bin", decompress.None).Parsed, int64(len(data)), func() *retrier { return &retrier{p: &f.policy} })
	b, err := src.open(t.Context(), 0)
	require.NoError(t, err)
	defer b.Close()
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, chunk/2)
		n, err := io.ReadFull(b, buf)
		if err != nil {
			n = 0
		}
		got <- buf[:n]
	}()
	select {
	case head := <-got:
		assert.Equal(t, data[:chunk/2], head, "the first half of the first chunk, while the rest is held back")
	case <-time.After(10 * time.Second):
		t.Fatal("the reader waited for the whole chunk")
	}
}

// An interrupted ranged download reports what the network carried: the
// chunks received behind the one its reader waits for count, not only the
// bytes read in order (served_bytes once said a tenth of it).
func TestInterruptedRangedDownloadCountsWhatCame(t *testing.T) {
	const chunk = 64 << 10
	data := randomBytes(6*chunk, 102)
	var sent atomic.Int64
	hold := make(chan struct{})
	defer close(hold)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		from, to, ok := askedRange(r, data)
		if !ok {
			http.Error(w, "ranges only", http.StatusBadRequest)
			return
		}
		startPartial(w, from, to, len(data))
		if from == 0 { // the first chunk never comes: the reader waits
			w.(http.Flusher).Flush()
			select {
			case <-hold:
			case <-r.Context().Done():
			}
			return
		}
		n, _ := w.Write(data[from : to+1])
		w.(http.Flusher).Flush()
		sent.Add(int64(n))
	})
	e := newEnv(t)
	o := parallelOpts(e)
	o.ChunkSize = chunk
	o.Connections = 6
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Result, 1)
	go func() { done <- New(o).Install(ctx, []Target{e.target(model(data, srv.URL+"/m.bin"))})[0] }()
	require.Eventually(t, func() bool { return sent.Load() == 5*chunk }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // the last bytes off the socket
	cancel()
	r := <-done
	require.Error(t, r.Err)
	assert.GreaterOrEqual(t, r.Served, int64(5*chunk), "the five chunks that came")
}
