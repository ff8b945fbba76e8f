package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/djok/modelfetch/pkg/oci"
)

// resolveManifest is oci.Resolve with the manifest's body under the same
// idle watchdog as any body (no byte for the idle timeout is a stall), and
// the whole answer under a deadline of four idle timeouts (2 minutes by
// default), so that a registry that drips one cannot hold the run either.
// Either is a *manifestStallError, which gives the registry up for the run
// (dead.go): every model it holds would wait the same.
func (f *Fetcher) resolveManifest(ctx context.Context, ref oci.Ref) (*oci.Artifact, error) {
	limit := 4 * f.o.IdleTimeout
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	wt := &watchedTransport{base: f.client.Transport, idle: f.o.IdleTimeout, cancel: cancel}
	if wt.base == nil {
		wt.base = http.DefaultTransport
	}
	c := *f.client
	c.Transport = wt
	a, err := oci.Resolve(rctx, &c, ref)
	switch {
	case err == nil || ctx.Err() != nil:
		return a, err
	case wt.stalled():
		return nil, &manifestStallError{&StallError{Idle: f.o.IdleTimeout}}
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		return nil, &manifestStallError{&StallError{Idle: limit, Whole: true}}
	}
	return a, err
}

// manifestStallError is a *StallError of a registry's manifest (Whole: the
// manifest was not complete within Idle). It adds only the registry's
// wording and one meaning: its registry is given up for the run
// (unreachable, dead.go). Transient, as any stall (the embedded
// StallError's Permanent).
type manifestStallError struct {
	*StallError
}

func (e *manifestStallError) Error() string {
	if e.Whole {
		return fmt.Sprintf("the registry did not send the manifest within %s", e.Idle)
	}
	return fmt.Sprintf("stalled: the registry sent nothing of the manifest for %s", e.Idle)
}

func (e *manifestStallError) Unwrap() error { return e.StallError }

// watchedTransport puts each response body under an idle watchdog that
// cancels the whole resolve when it fires.
type watchedTransport struct {
	base   http.RoundTripper
	idle   time.Duration
	cancel context.CancelFunc

	mu   sync.Mutex
	dogs []*watchdog
}

func (t *watchedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	dog := newWatchdog(t.idle, speed{}, t.cancel)
	t.mu.Lock()
	t.dogs = append(t.dogs, dog)
	t.mu.Unlock()
	resp.Body = &dogBody{ReadCloser: resp.Body, dog: dog}
	return resp, nil
}

// stalled reports whether a watchdog fired.
func (t *watchedTransport) stalled() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range t.dogs {
		if d.fired() != nil {
			return true
		}
	}
	return false
}

// dogBody kicks its watchdog on every read that returns data.
type dogBody struct {
	io.ReadCloser
	dog *watchdog
}

func (b *dogBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.dog.kick(n)
	return n, err
}

func (b *dogBody) Close() error {
	b.dog.stop()
	return b.ReadCloser.Close()
}
