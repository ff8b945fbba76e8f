package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
)

// StatusError is an HTTP response other than the one asked for.
type StatusError struct {
	Code       int
	RetryAfter time.Duration // from Retry-After, when HasRetryAfter
	// HasRetryAfter is true when the server said when to retry ("0": now).
	HasRetryAfter bool
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("http %d %s", e.Code, strings.ToLower(http.StatusText(e.Code)))
}

// Transient reports whether retrying the same source may help.
func (e *StatusError) Transient() bool {
	switch c := e.Code; {
	case c == http.StatusRequestTimeout, c == http.StatusTooEarly, c == http.StatusTooManyRequests:
		return true
	case c >= 500 && c != http.StatusNotImplemented && c != http.StatusHTTPVersionNotSupported:
		return true
	}
	return false
}

// StallError is a connection that sent nothing for the idle timeout.
type StallError struct{ Idle time.Duration }

func (e *StallError) Error() string { return fmt.Sprintf("stalled: no data for %v", e.Idle) }

// TruncatedError is a body that ended before its declared length.
type TruncatedError struct{ Got, Want int64 }

func (e *TruncatedError) Error() string {
	if e.Want < 0 {
		return fmt.Sprintf("truncated: stream ended early after %d bytes", e.Got)
	}
	return fmt.Sprintf("truncated: got %d of %d bytes", e.Got, e.Want)
}

// errRestart asks the pipeline to start this source again from byte 0 (a
// resume was answered with the whole body, or a range the server got wrong).
var errRestart = errors.New("server cannot resume; starting over")

// isTransient reports whether err is worth another try at the same source.
func isTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || isLocal(err) ||
		digest.IsIntegrity(err) || decompress.IsCorrupt(err) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Transient()
	}
	var stall *StallError
	var trunc *TruncatedError
	if errors.As(err, &stall) || errors.As(err, &trunc) || decompress.IsTruncated(err) {
		return true
	}
	if errors.Is(err, errRestart) {
		return true
	}
	// Permanent: this source will not start working by itself.
	var (
		dnsErr      *net.DNSError
		unknownCA   x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		certInvalid x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		redirect    *redirectError
		permanent   *permanentError
	)
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound,
		errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &certInvalid),
		errors.As(err, &verifyErr), errors.As(err, &recordErr),
		errors.As(err, &redirect), errors.As(err, &permanent):
		return false
	}
	// What is left are connection faults (reset, refused, timeout, EOF) and
	// protocol hiccups (http2 stream resets and the like): worth a retry.
	return true
}

// permanentError marks a failure that retrying the same source cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// redirectError is a redirect chain we refuse to follow further.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

// localError is a failure of this machine (disk full, permissions), never of
// a source: it is not retried and no other source is tried.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

func isLocal(err error) bool {
	var le *localError
	return errors.As(err, &le)
}

// retrier spends a budget of retries for one source with exponential backoff
// and full jitter. The budget refills whenever a retry got further into the
// stream than any before it, so a long download over a flaky link finishes,
// while a server that always fails at the same point gives up.
type retrier struct {
	max       int
	used      int
	base, cap time.Duration
	maxAfter  time.Duration
	highWater int64
	onRetry   func(err error, wait time.Duration)
	sleep     func(ctx context.Context, d time.Duration) error
}

// progress records that the stream reached off.
func (r *retrier) progress(off int64) {
	if off > r.highWater {
		r.highWater = off
		r.used = 0
	}
}

// wait spends one retry on err and sleeps; it returns err itself when the
// budget is spent or err is not transient, and ctx's error when cancelled.
func (r *retrier) wait(ctx context.Context, err error) error {
	if !isTransient(err) || r.used >= r.max {
		return err
	}
	r.used++
	d := r.base << min(r.used-1, 20)
	if d > r.cap || d <= 0 {
		d = r.cap
	}
	d = d/2 + rand.N(d/2+1) // jitter in [d/2, d]
	var se *StatusError
	if errors.As(err, &se) && se.HasRetryAfter {
		d = min(se.RetryAfter, r.maxAfter)
	}
	if errors.Is(err, errRestart) {
		d = 0 // the new body is already here
	}
	if r.onRetry != nil {
		r.onRetry(err, d)
	}
	if serr := r.sleep(ctx, d); serr != nil {
		return serr
	}
	return nil
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

// describe renders err for a one-line message, without the URL that the
// net/http errors repeat (the caller names the redacted source).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		msg := oe.Err.Error()
		if oe.Op != "" {
			msg = oe.Op + ": " + strings.TrimPrefix(msg, oe.Op+": ")
		}
		return msg
	}
	s := err.Error()
	s, _, _ = strings.Cut(s, "\n")
	return s
}
