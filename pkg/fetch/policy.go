package fetch

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/djok/modelfetch/pkg/decompress"
)

// policy is the retry policy of every source, in one place:
//
//   - what is transient (worth another try at the same source) and what is
//     not (transient below);
//   - how long to wait: exponential backoff with full jitter between Base/2
//     and Cap; a server's Retry-After is followed, clamped to MaxRetryAfter,
//     with up to a quarter added at random so that many connections told
//     the same instant do not all come back at once;
//   - how many tries: Retries per stream or chunk, refilled only when a
//     try got at least refillBytes further than any before it (a flaky link
//     finishes a long download; a server that cuts every connection after a
//     byte does not hold the run), and at most MaxFaults faults per source
//     whatever the progress.
//
// A throttled answer (429, 503) first halves the host's connections
// (host.go) without using up a try; only once the host is down to one
// connection does it count, so a file that one connection would fetch is
// never failed by our own parallelism.
type policy struct {
	Retries       int
	Base, Cap     time.Duration
	MaxRetryAfter time.Duration
	MaxFaults     int64
	sleep         func(ctx context.Context, d time.Duration) error
}

// refillBytes is the progress that earns a source its retries back.
const refillBytes = 64 << 10

// retrier is the state of one stream or chunk under a policy.
type retrier struct {
	p         *policy
	used      int
	highWater int64
	refilled  int64
	faults    *atomic.Int64 // shared by every retrier of one source
	failover  bool          // an unreachable host is not retried (dead.go)
	onRetry   func(err error, wait time.Duration)
}

// progress records that the stream reached off.
func (r *retrier) progress(off int64) {
	if off > r.highWater {
		r.highWater = off
	}
	if r.highWater-r.refilled >= refillBytes {
		r.refilled = r.highWater
		r.used = 0
	}
}

// wait spends one try on err and sleeps; it returns err itself when err is
// not transient or the tries are spent, and ctx's error when cancelled.
func (r *retrier) wait(ctx context.Context, err error) error {
	if !transient(err) || r.failover && unreachable(err) {
		return err
	}
	if r.faults != nil && r.faults.Add(1) > r.p.MaxFaults {
		return err
	}
	d, free := r.delay(err)
	if !free {
		if r.used >= r.p.Retries {
			return err
		}
		r.used++
	}
	if r.onRetry != nil {
		r.onRetry(err, d)
	}
	return r.p.sleep(ctx, d)
}

// delay is how long to wait before the next try after err, and whether the
// try is free (the host took the blame: see policy).
func (r *retrier) delay(err error) (time.Duration, bool) {
	var expired *expiredError
	if errors.As(err, &expired) {
		return 0, true // a signed link past its expiry: resolved again at once, no try spent
	}
	var se *StatusError
	errors.As(err, &se)
	var d time.Duration
	if se != nil && se.HasRetryAfter {
		d = min(se.RetryAfter, r.p.MaxRetryAfter)
		d = min(d+rand.N(d/4+50*time.Millisecond), r.p.MaxRetryAfter)
	} else {
		d = r.p.Base << min(r.used, 20)
		if d > r.p.Cap || d <= 0 {
			d = r.p.Cap
		}
		d = d/2 + rand.N(d/2+1) // full jitter in [d/2, d]
	}
	free := se != nil && se.throttled() && se.host != nil && se.host.slowDown(d)
	return d, free
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// transient reports whether err is worth another try at the same source.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || isLocal(err) || isIntegrity(err) || permanentFailure(err) {
		return false
	}
	var expired *expiredError
	if errors.As(err, &expired) {
		return true // resolved again from the original URL
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Transient()
	}
	var (
		stall *StallError
		trunc *TruncatedError
		slow  *SlowError
	)
	switch {
	case errors.As(err, &slow):
		return false // a source below the minimum rate is given up
	case errors.As(err, &stall), errors.As(err, &trunc), decompress.IsTruncated(err):
		return true
	}
	// Permanent: this source will not start working by itself.
	var (
		dnsErr    *net.DNSError
		redirect  *redirectError
		permanent *permanentError
	)
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound, tlsFailure(err),
		errors.As(err, &redirect), errors.As(err, &permanent):
		return false
	}
	// What is left are connection faults (reset, refused, timeout, EOF) and
	// protocol hiccups: worth a retry.
	return true
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (a date in the past means now). ok is false when there is none to read.
func parseRetryAfter(h string, now time.Time) (d time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, 86400)) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
