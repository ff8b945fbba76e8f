package main

import (
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// timeline samples what the clients of this server do, every interval from
// the first request on: the requests in flight (over HTTP/1.1, the
// connections in use), how many of them are for each file, and the body
// bytes sent since the last sample. It writes one line per sample,
//
//	T_SECONDS IN_FLIGHT BYTES NAME=N NAME=N ...
//
// and nothing while no request is in flight and no byte was sent, so a
// quiet server between two runs writes nothing, and the time of each line
// is counted from the first request of the run it belongs to (a run starts
// after at least idleGap with nothing in flight).
type timeline struct {
	mu       sync.Mutex
	inflight map[string]int
	total    int
	sent     atomic.Int64
	out      io.Writer
	every    time.Duration
	start    time.Time // of the current run; zero between runs
	quiet    time.Time // since when nothing was in flight
	stop     chan struct{}
}

// idleGap is how long the server must be idle for the next request to
// start a new run at time 0.
const idleGap = 500 * time.Millisecond

func newTimeline(out io.Writer, every time.Duration) *timeline {
	return &timeline{inflight: map[string]int{}, out: out, every: every, stop: make(chan struct{})}
}

// wrap counts h's requests in flight and the body bytes they send.
func (tl *timeline) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Base(r.URL.Path)
		tl.mu.Lock()
		now := time.Now()
		if tl.total == 0 && (tl.start.IsZero() || now.Sub(tl.quiet) > idleGap) {
			tl.start = now
		}
		tl.inflight[name]++
		tl.total++
		tl.mu.Unlock()
		defer func() {
			tl.mu.Lock()
			tl.inflight[name]--
			tl.total--
			if tl.total == 0 {
				tl.quiet = time.Now()
			}
			tl.mu.Unlock()
		}()
		h.ServeHTTP(&sentWriter{ResponseWriter: w, n: &tl.sent}, r)
	})
}

// run writes a sample every interval until close.
func (tl *timeline) run() {
	t := time.NewTicker(tl.every)
	defer t.Stop()
	for {
		var now time.Time
		select {
		case now = <-t.C:
		case <-tl.stop:
			return
		}
		sent := tl.sent.Swap(0)
		tl.mu.Lock()
		if tl.start.IsZero() || (tl.total == 0 && sent == 0) {
			tl.mu.Unlock()
			continue
		}
		var names []string
		for n, c := range tl.inflight {
			if c > 0 {
				names = append(names, fmt.Sprintf("%s=%d", n, c))
			}
		}
		line := fmt.Sprintf("%.2f %d %d", now.Sub(tl.start).Seconds(), tl.total, sent)
		tl.mu.Unlock()
		sort.Strings(names)
		fmt.Fprintln(tl.out, strings.TrimSpace(line+" "+strings.Join(names, " ")))
	}
}

func (tl *timeline) close() { close(tl.stop) }

// sentWriter adds the body bytes written through it to n.
type sentWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *sentWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *sentWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
