package mirror

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/djok/modelfetch/internal/retry"
	"github.com/djok/modelfetch/pkg/digest"
)

// What a push reads off the wire before oras-go does: a transient status
// becomes a *statusError that carries the server's Retry-After (oras' own
// error drops the headers), and an upload Location the push must not
// follow is refused with its real reason.

// wireClient is base with its transport wrapped by wire, each request
// bounded by idle (idleTransport).
func wireClient(base *http.Client, idle time.Duration) *http.Client {
	c := *base
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = &wire{next: &idleTransport{next: next, idle: idle}}
	return &c
}

type wire struct{ next http.RoundTripper }

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if retry.TransientStatus(resp.StatusCode) {
		after, has := retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, &statusError{Code: resp.StatusCode, RetryAfter: after, HasRetryAfter: has}
	}
	if req.Method == http.MethodPost && resp.StatusCode == http.StatusAccepted && strings.Contains(req.URL.Path, "/blobs/uploads/") {
		if err := checkLocation(req.URL, resp.Header.Get("Location")); err != nil {
			resp.Body.Close()
			return nil, err
		}
	}
	return resp, nil
}

// statusError is a transient answer from the registry (5xx, 429, 408).
type statusError struct {
	Code          int
	RetryAfter    time.Duration
	HasRetryAfter bool
}

func (e *statusError) Error() string {
	return fmt.Sprintf("http %d %s", e.Code, strings.ToLower(http.StatusText(e.Code)))
}

// retryAfter is the Retry-After of the registry's answer in err, if any.
func retryAfter(err error) (time.Duration, bool) {
	var se *statusError
	if errors.As(err, &se) {
		return se.RetryAfter, se.HasRetryAfter
	}
	return 0, false
}

// locationError is an upload Location the push refuses to send a file to.
type locationError struct{ location, reason string }

func (e *locationError) Error() string {
	return fmt.Sprintf("the registry's upload Location %q is refused: %s", e.location, e.reason)
}

// checkLocation refuses an upload location that is not http or https, is
// on another host (or port) than the registry, or downgrades https: the
// upload carries the registry's credential.
func checkLocation(req *url.URL, location string) error {
	if location == "" {
		return &locationError{"", "the registry answered 202 without one"}
	}
	u, err := req.Parse(location)
	if err != nil {
		return &locationError{clip(location), "not a URL"}
	}
	shown := clip((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String())
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return &locationError{shown, fmt.Sprintf("a %s: URL (only http and https are followed)", u.Scheme)}
	case req.Scheme == "https" && u.Scheme != "https":
		return &locationError{shown, "it downgrades https to plain http"}
	case !strings.EqualFold(u.Hostname(), req.Hostname()) || port(u) != port(req):
		return &locationError{shown, fmt.Sprintf("it is on host %s, not the registry's %s (the upload carries the registry's credential)", u.Host, req.Host)}
	}
	return nil
}

func port(u *url.URL) string {
	switch p := u.Port(); {
	case p != "":
		return p
	case u.Scheme == "https":
		return "443"
	}
	return "80"
}

// clip shortens what a registry sent for a message (its query, which may
// hold a signed state, is never part of it).
func clip(s string) string {
	s, _, _ = strings.Cut(s, "?")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// connectionFault reports whether err is a request that failed on the way
// (refused, reset, cut short, timed out), not a name that does not resolve
// or a certificate that is not trusted.
func connectionFault(err error) bool {
	var (
		dns     *net.DNSError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
		record  tls.RecordHeaderError
		ue      *url.Error
	)
	switch {
	case errors.As(err, &dns):
		return !dns.IsNotFound
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &host), errors.As(err, &record):
		return false
	}
	return errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// fileError is the file's own failure during a push: it could not be
// opened, or its bytes are not what the manifest records. Another try
// would not change it.
type fileError struct{ err error }

func (e *fileError) Error() string { return e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// checkedBody is a blob's bytes verified against its digest and size as
// they are read; it remembers a verification failure, which the HTTP client
// would otherwise report as a failed request.
type checkedBody struct {
	r   *digest.Reader
	c   io.Closer
	err error
}

func openChecked(b Blob) (*checkedBody, error) {
	rc, err := b.Open()
	if err != nil {
		return nil, &fileError{err}
	}
	return &checkedBody{r: digest.NewReader(rc, b.Digest, b.Size), c: rc}, nil
}

func (c *checkedBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

func (c *checkedBody) Close() error { return c.c.Close() }

// cause is the error of an upload that read c: the file's own failure
// (it changed on disk, or could not be read) before the request's.
func (c *checkedBody) cause(err error) error {
	if err == nil {
		return nil
	}
	if c.err != nil {
		return &fileError{fmt.Errorf("not pushed: %w", c.err)}
	}
	return err
}

// requestError is err with the URLs of its requests shown without their
// query: an upload's carries the registry's signed session state.
type requestError struct {
	msg string
	err error
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return e.err }

func withoutQuery(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var (
		ue *url.Error
		er *errcode.ErrorResponse
	)
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.RawQuery != "" {
			msg = strings.ReplaceAll(msg, ue.URL, clip(ue.URL))
		}
	}
	if errors.As(err, &er) && er.URL != nil && er.URL.RawQuery != "" {
		msg = strings.ReplaceAll(msg, er.URL.String(), clip(er.URL.String()))
	}
	if msg == err.Error() {
		return err
	}
	return &requestError{msg, err}
}
