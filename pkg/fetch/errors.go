package fetch

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/djok/modelfetch/internal/retry"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
)

// The failures of one source, by what they mean for the run (docs/DESIGN.md,
// "Precise rules"): transient faults are retried (policy.go), integrity
// failures move on to the next source at once, local failures stop the
// artifact, and everything else gives the source up.

// Permanent is the one question the retry policy asks of a failure
// (transient, policy.go): an error that implements it says itself whether
// another try at the same source can help (Permanent false) or not. Every
// failure type of this package answers it, and so do those of other
// packages that know (a registry that refused our credentials, pkg/mirror).
// The outermost error in the chain that answers decides. Errors are values:
// answering never changes them.
type Permanent interface{ Permanent() bool }

// StatusError is an HTTP response other than the one asked for.
type StatusError struct {
	Code       int
	RetryAfter time.Duration // from Retry-After, when HasRetryAfter
	// HasRetryAfter is true when the server said when to retry ("0": now).
	HasRetryAfter bool
	// Proxy is true when the proxy answered (a CONNECT refused).
	Proxy bool
	// Host is the host (and port, as the URL wrote it) that answered; ""
	// for the proxy. A throttled answer cuts that host's connections
	// (policy.go).
	Host string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("http %d %s", e.Code, strings.ToLower(http.StatusText(e.Code)))
	if e.Proxy {
		msg = "proxy: " + msg
	}
	return msg
}

// Permanent: only a timeout, a throttled answer and a server error (but
// "not implemented" and "version not supported") may go away.
func (e *StatusError) Permanent() bool { return !retry.TransientStatus(e.Code) }

// throttled reports whether the server asked us to slow down.
func (e *StatusError) throttled() bool {
	return e.Code == http.StatusTooManyRequests || e.Code == http.StatusServiceUnavailable
}

// RetryAfterError is a server asking, with Retry-After, for a longer wait
// than the cap while another source remains: that source is given up at
// once instead of holding the run for the cap on every try.
type RetryAfterError struct {
	Err    error        // the answer, as the transport returned it
	Status *StatusError // the status within Err
	Cap    time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%s, asking to retry after %s, beyond the %v this run waits", e.Status, retry.Describe(e.Status.RetryAfter), e.Cap)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// Permanent: the wait it asks for is the reason the source was left.
func (e *RetryAfterError) Permanent() bool { return true }

// StallError is a connection that sent nothing for the idle timeout, or
// (Whole) an answer of bounded size not complete within Idle.
type StallError struct {
	Idle  time.Duration
	Whole bool
}

func (e *StallError) Error() string {
	if e.Whole {
		return fmt.Sprintf("stalled: the answer was not complete within %v", e.Idle)
	}
	return fmt.Sprintf("stalled: no data for %v", e.Idle)
}

// Permanent: a stall is resumed.
func (e *StallError) Permanent() bool { return false }

// SlowError is a connection slower than the minimum rate over a whole window.
type SlowError struct {
	Got    int64 // bytes received in the window
	Window time.Duration
	Min    int64 // bytes per second
}

func (e *SlowError) Error() string {
	return fmt.Sprintf("too slow: %d bytes in %v, below the minimum of %d bytes/s", e.Got, e.Window, e.Min)
}

// Permanent: a source below the minimum rate is given up.
func (e *SlowError) Permanent() bool { return true }

// TruncatedError is a body cut off before its declared length (a transient
// fault: the rest is resumed).
type TruncatedError struct{ Got, Want int64 }

func (e *TruncatedError) Error() string {
	if e.Want < 0 {
		return fmt.Sprintf("truncated: stream ended early after %d bytes", e.Got)
	}
	return fmt.Sprintf("truncated: got %d of %d bytes", e.Got, e.Want)
}

// Permanent: the rest is resumed.
func (e *TruncatedError) Permanent() bool { return false }

// ShortError is a body that ended cleanly (its own length met) short of
// what it should hold, twice at the same length: the source serves a short
// file, an integrity failure of that source.
type ShortError struct {
	Served int64 // bytes served, each time
	Want   int64 // the declared length of the bytes as served; -1 when unknown
}

func (e *ShortError) Error() string {
	if e.Want < 0 {
		return fmt.Sprintf("short file: served %d bytes twice, ending inside the compressed stream", e.Served)
	}
	return fmt.Sprintf("short file: served %d bytes twice, the manifest declares %d", e.Served, e.Want)
}

// Permanent: it is an integrity failure of the source.
func (e *ShortError) Permanent() bool { return true }

// errRestart asks the pipeline to start this source again from byte 0 (a
// resume was answered with the whole body, or a range the server got wrong,
// or a validator that changed). It is never the final error of a source.
var errRestart = errors.New("server cannot resume; starting over")

// errNoRanges: a chunk came back whole (200) or with the wrong range; the
// stream falls back to one connection.
var errNoRanges = errors.New("server stopped honouring ranges")

// permanentError marks a failure that retrying the same source cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// redirectError is a redirect we refuse to follow.
type redirectError struct{ msg string }

func (e *redirectError) Error() string   { return e.msg }
func (e *redirectError) Permanent() bool { return true }

// localError is a failure of this machine (disk full, permissions), never of
// a source: it is not retried and no other source is tried.
type localError struct{ err error }

func (e *localError) Error() string   { return e.err.Error() }
func (e *localError) Unwrap() error   { return e.err }
func (e *localError) Permanent() bool { return true }

func isLocal(err error) bool {
	var le *localError
	return errors.As(err, &le)
}

// trailingError is data after the last compressed stream.
type trailingError struct{ n int64 }

func (e *trailingError) Error() string {
	return fmt.Sprintf("%d bytes of trailing data after the compressed stream", e.n)
}

// Permanent: it is an integrity failure of the source.
func (e *trailingError) Permanent() bool { return true }

// isIntegrity reports whether err says that complete bytes failed
// verification: the source serves something else than the manifest says.
func isIntegrity(err error) bool {
	var t *trailingError
	var s *ShortError
	var o interface{ Integrity() bool } // a registry artifact's (oci.IntegrityError)
	return digest.IsIntegrity(err) || decompress.IsCorrupt(err) || errors.As(err, &t) || errors.As(err, &s) ||
		errors.As(err, &o) && o.Integrity()
}

// describe renders err for a one-line message, without the URL that the
// net/http errors repeat (the caller names the redacted source).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var long *RetryAfterError
	if errors.As(err, &long) {
		return long.Error()
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Error()
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

// tlsFailure reports whether err is a TLS handshake that failed: a
// certificate refused, or something that does not speak TLS at all.
func tlsFailure(err error) bool {
	var (
		unknownCA   x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		certInvalid x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &certInvalid) ||
		errors.As(err, &verifyErr) || errors.As(err, &recordErr)
}
