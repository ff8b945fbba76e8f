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

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
)

// The failures of one source, by what they mean for the run (DESIGN.md,
// "Precise rules"): transient faults are retried (policy.go), integrity
// failures move on to the next source at once, local failures stop the
// artifact, and everything else gives the source up.

// StatusError is an HTTP response other than the one asked for.
type StatusError struct {
	Code       int
	RetryAfter time.Duration // from Retry-After, when HasRetryAfter
	// HasRetryAfter is true when the server said when to retry ("0": now).
	HasRetryAfter bool
	// Proxy is true when the proxy answered (a CONNECT refused).
	Proxy bool
	// host is the budget of the host that answered, which a throttled
	// answer cuts (policy.go).
	host *hostLimiter
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("http %d %s", e.Code, strings.ToLower(http.StatusText(e.Code)))
	if e.Proxy {
		msg = "proxy: " + msg
	}
	return msg
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

// throttled reports whether the server asked us to slow down.
func (e *StatusError) throttled() bool {
	return e.Code == http.StatusTooManyRequests || e.Code == http.StatusServiceUnavailable
}

// StallError is a connection that sent nothing for the idle timeout.
type StallError struct{ Idle time.Duration }

func (e *StallError) Error() string { return fmt.Sprintf("stalled: no data for %v", e.Idle) }

// SlowError is a connection slower than the minimum rate over a whole window.
type SlowError struct {
	Got    int64 // bytes received in the window
	Window time.Duration
	Min    int64 // bytes per second
}

func (e *SlowError) Error() string {
	return fmt.Sprintf("too slow: %d bytes in %v, below the minimum of %d bytes/s", e.Got, e.Window, e.Min)
}

// TruncatedError is a body cut off before its declared length (a transient
// fault: the rest is resumed).
type TruncatedError struct{ Got, Want int64 }

func (e *TruncatedError) Error() string {
	if e.Want < 0 {
		return fmt.Sprintf("truncated: stream ended early after %d bytes", e.Got)
	}
	return fmt.Sprintf("truncated: got %d of %d bytes", e.Got, e.Want)
}

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

// errRestart asks the pipeline to start this source again from byte 0 (a
// resume was answered with the whole body, or a range the server got wrong,
// or a validator that changed). It is never the final error of a source.
var errRestart = errors.New("server cannot resume; starting over")

// errNoRanges: a chunk came back whole (200) or with the wrong range; the
// stream falls back to one connection.
var errNoRanges = errors.New("server stopped honouring ranges")

// permanentError marks a failure that retrying the same source cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// redirectError is a redirect we refuse to follow.
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

// trailingError is data after the last compressed stream.
type trailingError struct{ n int64 }

func (e *trailingError) Error() string {
	return fmt.Sprintf("%d bytes of trailing data after the compressed stream", e.n)
}

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
