package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// servedRecorder is an Observer that is also a ServedObserver.
type servedRecorder struct {
	recorder
	mu     sync.Mutex
	served int64
	// servedFirst: bytes were reported served before any was installed.
	servedFirst, installed bool
}

func (s *servedRecorder) Served(_ string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.served = n
	if !s.installed {
		s.servedFirst = true
	}
}

func (s *servedRecorder) Progress(string, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.installed = true
}

func (s *servedRecorder) Retry(string, *SourceError, time.Duration) {}
func (s *servedRecorder) SourceFailed(string, *SourceError)         {}

// An observer that wants them is told the bytes served as they arrive,
// before decoding: all of the compressed body, not the installed size.
func TestServedBytesAreObserved(t *testing.T) {
	data := bytes.Repeat([]byte("0.125 0.250 0.375 "), 20_000)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, err := w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	srv := newServer(t, serveRanges(gz.Bytes()))
	e := newEnv(t)
	obs := &servedRecorder{}
	o := e.opts()
	o.Observer = obs
	r := e.install(t, o, model(data, srv.URL+"/m.gz"))
	require.NoError(t, r.Err)
	assert.Equal(t, int64(gz.Len()), obs.served)
	assert.True(t, obs.servedFirst)
}

// A fault seen after the run was cancelled (Ctrl-C) is the cancellation:
// it is neither retried nor reported as a retry.
func TestNoRetryOnceCancelled(t *testing.T) {
	retried := false
	r := &retrier{p: &policy{Retries: 5, Base: time.Millisecond, Cap: time.Second, MaxRetryAfter: time.Second, MaxFaults: 50, sleep: sleepCtx},
		onRetry: func(error, time.Duration) { retried = true }}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupted (SIGINT)"))
	err := r.wait(ctx, &net.OpError{Op: "read", Err: syscall.ECONNRESET})
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, retried)
}

// receivedRecorder is an Observer that is told the bytes received, and
// releases the held first chunk once some have come in.
type receivedRecorder struct {
	recorder
	mu            sync.Mutex
	received      int64
	installed     bool
	receivedFirst bool // bytes were received before any was installed
	once          sync.Once
	release       chan struct{}
}

func (s *receivedRecorder) Received(_ string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = max(s.received, n)
	if !s.installed {
		s.receivedFirst = true
		s.once.Do(func() { close(s.release) })
	}
}

func (s *receivedRecorder) Progress(string, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.installed = true
}

func (s *receivedRecorder) Retry(string, *SourceError, time.Duration) {}
func (s *receivedRecorder) SourceFailed(string, *SourceError)         {}

// A ranged download whose first chunk is slow still shows what it
// receives: the other connections' chunks arrive before any byte can be
// installed in order, and a display must not say "connecting" meanwhile.
func TestReceivedBytesAreObservedOutOfOrder(t *testing.T) {
	data := randomBytes(1<<20, 7)
	obs := &receivedRecorder{release: make(chan struct{})}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n > 0 && strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") {
			select { // the first chunk waits for the others
			case <-obs.release:
			case <-time.After(5 * time.Second):
			}
		}
		serveRanges(data)(w, r, n)
	})
	e := newEnv(t)
	o := parallelOpts(e)
	o.Observer = obs
	r := e.install(t, o, model(data, srv.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.True(t, obs.receivedFirst, "bytes received were reported before the first was installed")
	assert.GreaterOrEqual(t, obs.received, int64(len(data)))
}
