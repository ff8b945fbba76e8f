package mirror

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// DefaultIdleTimeout is how long a push waits on a silent registry when
// PushOptions.IdleTimeout is zero: the download default.
const DefaultIdleTimeout = 30 * time.Second

// idleTransport bounds every request of a push by silence, as downloads
// are: no byte of the request body taken, no response header, no byte of
// the response body for idle, and the request is cancelled with a
// *stallError (a connection fault, retried as one). A healthy upload of
// any size is never cut: each byte moved restarts the clock.
type idleTransport struct {
	next http.RoundTripper
	idle time.Duration
}

// stallError is a request the registry left silent for the idle timeout.
type stallError struct {
	idle time.Duration
	what string
}

func (e *stallError) Error() string {
	return fmt.Sprintf("the registry %s for %v (--idle-timeout)", e.what, e.idle)
}

// Timeout marks the stall as a timeout (net.Error's test).
func (e *stallError) Timeout() bool { return true }

func (e *stallError) Temporary() bool { return true }

// idleWatch is the clock of one request.
type idleWatch struct {
	mu     sync.Mutex
	timer  *time.Timer
	idle   time.Duration
	what   string // what the registry is doing when the clock fires
	fired  *stallError
	cancel context.CancelFunc
}

func (w *idleWatch) kick(what string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fired == nil {
		w.what = what
		w.timer.Reset(w.idle)
	}
}

func (w *idleWatch) fire() {
	w.mu.Lock()
	w.fired = &stallError{idle: w.idle, what: w.what}
	w.mu.Unlock()
	w.cancel()
}

func (w *idleWatch) stop() {
	w.timer.Stop()
	w.cancel()
}

// stalled is the stall the clock found, if it fired.
func (w *idleWatch) stalled() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fired == nil {
		return nil
	}
	return w.fired
}

func (t *idleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	w := &idleWatch{idle: t.idle, what: "sent no answer", cancel: cancel}
	w.timer = time.AfterFunc(t.idle, w.fire)
	req = req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		w.kick("took none of the upload")
		req.Body = &uploadReader{ReadCloser: req.Body, w: w, size: req.ContentLength}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		w.stop()
		if s := w.stalled(); s != nil {
			return nil, s
		}
		return nil, err
	}
	w.kick("stopped sending its answer")
	resp.Body = &answerReader{ReadCloser: resp.Body, w: w}
	return resp, nil
}

// uploadReader restarts the clock on each byte of the upload taken; once
// all of it is, the clock waits for the answer.
type uploadReader struct {
	io.ReadCloser
	w          *idleWatch
	size, read int64 // size: -1 when not known
}

func (r *uploadReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.read += int64(n)
	switch {
	case err == io.EOF || r.size >= 0 && r.read >= r.size:
		r.w.kick("took the upload and sent no answer")
	case n > 0:
		r.w.kick("stopped taking the upload")
	}
	return n, err
}

// answerReader restarts the clock on each byte of the answer; its Close
// ends the request's clock, and a read cut by the clock fails with the stall.
type answerReader struct {
	io.ReadCloser
	w *idleWatch
}

func (r *answerReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 {
		r.w.kick("stopped sending its answer")
	}
	if err != nil && err != io.EOF {
		if s := r.w.stalled(); s != nil {
			return n, s
		}
	}
	return n, err
}

func (r *answerReader) Close() error {
	defer r.w.stop()
	return r.ReadCloser.Close()
}
