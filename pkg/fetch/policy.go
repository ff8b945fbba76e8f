package fetch

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/djok/modelfetch/internal/retry"
)

// policy is the retry policy of every source, in one place:
//
//   - what is transient (worth another try at the same source) and what is
//     not (transient below);
//   - how long to wait: exponential backoff with full jitter between Base/2
//     and Cap; a server's Retry-After is followed, clamped to MaxRetryAfter,
//     with up to a quarter added at random so that many connections told
//     the same instant do not all come back at once; a Retry-After beyond
//     MaxRetryAfter is not waited at all while another source remains
//     (RetryAfterError): only the last source waits at the cap;
//   - how many tries: Retries per stream or chunk, refilled only when a
//     try got at least refillBytes further than any before it (a flaky link
//     finishes a long download; a server that cuts every connection after a
//     byte does not hold the run), and at most MaxFaults faults per source
//     whatever the progress.
//
// A throttled answer (429, 503) halves the host's connections (host.go);
// it uses up no try only when more connections were in use to the host at
// once (since it was last idle) than the cut leaves (the cut, not the
// source, answers for it), so a file that one connection would fetch is
// never failed by our own parallelism, and one connection gets exactly
// 1 + Retries tries.
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
	// hosts returns the connection budget of a host by name (Fetcher.host),
	// which a throttled answer cuts; nil cuts none.
	hosts func(host string) *hostLimiter
	// leaveUnreachable and leaveLongWait: see sourceOptions.
	leaveUnreachable, leaveLongWait bool
	onRetry                         func(err error, wait time.Duration)
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
	if ctx.Err() != nil {
		// Cancelled (Ctrl-C): what failed is the cancellation, not the
		// source, and there is nothing to retry or to report.
		return ctx.Err()
	}
	if !transient(err) || r.leaveUnreachable && unreachable(err) {
		return err
	}
	if r.leaveLongWait {
		if long := r.p.tooLong(err); long != nil {
			return long
		}
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
	rp := retry.Policy{Base: r.p.Base, Cap: r.p.Cap, MaxRetryAfter: r.p.MaxRetryAfter}
	has := se != nil && se.HasRetryAfter
	var after time.Duration
	if has {
		after = se.RetryAfter
	}
	d := rp.Delay(r.used, after, has)
	free := se != nil && se.throttled() && se.Host != "" && r.hosts != nil && r.hosts(se.Host).slowDown(d)
	return d, free
}

// tooLong returns, for an answer whose Retry-After is beyond
// MaxRetryAfter, the error that gives its source up; nil otherwise.
func (p *policy) tooLong(err error) error {
	var se *StatusError
	if errors.As(err, &se) && se.HasRetryAfter && se.RetryAfter > p.MaxRetryAfter {
		return &RetryAfterError{Err: err, Status: se, Cap: p.MaxRetryAfter}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error { return retry.Sleep(ctx, d) }

// transient reports whether err is worth another try at the same source:
// the one place this is decided. What is canceled, this machine's fault or
// an integrity failure (complete bytes that are wrong) is not; otherwise the
// error's own answer (Permanent) decides, and for the standard library's
// errors, which give none: a name that does not exist and a TLS failure are
// permanent, a compressed stream cut short and every other connection fault
// (reset, refused, timeout, EOF) or protocol hiccup is worth a retry.
func transient(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled), isLocal(err), isIntegrity(err):
		return false
	}
	var p Permanent
	if errors.As(err, &p) {
		return !p.Permanent()
	}
	var dnsErr *net.DNSError
	return !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) && !tlsFailure(err)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (a date in the past means now). ok is false when there is none to read.
func parseRetryAfter(h string, now time.Time) (d time.Duration, ok bool) {
	return retry.ParseRetryAfter(h, now)
}
