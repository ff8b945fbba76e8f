package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/djok/modelfetch/pkg/mirror"
)

// httpSource opens an http(s) URL: one GET from the offset asked for, or,
// for a large file from a server that allows ranges, chunks over several
// connections (parallel.go). Every request goes through get, which builds
// and checks it.
type httpSource struct {
	client     *http.Client
	orig       *url.URL
	hosts      func(host string) *hostLimiter
	idle       time.Duration
	speed      speed
	now        func() time.Time
	conns      int
	chunk      int64
	buffers    chan struct{} // chunk buffer budget shared by all artifacts
	free       chan []byte   // chunk buffers to reuse, shared likewise
	newRetrier func() *retrier
	// expect is the served length the manifest declares (-1: unknown). A
	// server's claim is never trusted over it: a different total is read
	// on one connection and fails verification there.
	expect int64
	// inspect, when set, sees every answer first; an error it returns is
	// the answer's (a hub's own errors: hubsource.go).
	inspect func(*http.Response) error
	// received, when set, is told the size of every read off any of the
	// source's connections, in whatever order the chunks arrive; called
	// from several goroutines at once.
	received func(n int)

	mu         sync.Mutex
	final      *url.URL // where the redirects of the first answer led
	validator  string   // ETag or Last-Modified, for If-Range
	ranges     bool     // the server said it accepts byte ranges
	noParallel bool     // ranges went wrong once: one connection from now on
}

func (s *httpSource) open(ctx context.Context, off int64) (*body, error) {
	s.mu.Lock()
	tryParallel := off == 0 && s.conns > 1 && !s.noParallel
	canResume := s.ranges
	s.mu.Unlock()
	if tryParallel {
		if b, err := s.openParallel(ctx); b != nil || err != nil {
			return b, err
		}
	}
	if off > 0 && !canResume {
		off = 0 // a plain GET; the stream starts over with its body
	}
	r, err := s.get(ctx, off, -1)
	if errors.Is(err, errNoRanges) {
		s.mu.Lock()
		s.ranges = false
		s.mu.Unlock()
		return nil, errRestart
	}
	if err != nil {
		return nil, err
	}
	return &body{ReadCloser: r.body, start: r.start, total: r.total}, nil
}

// openParallel probes with a ranged GET of the first chunk (not HEAD:
// signed URLs often refuse it). It returns nil, nil when the file is to be
// read on one connection after all.
func (s *httpSource) openParallel(ctx context.Context) (*body, error) {
	r, err := s.get(ctx, 0, s.chunk-1)
	switch {
	case errors.Is(err, errNoRanges):
		s.oneConnection()
		return nil, nil
	case err != nil:
		return nil, err
	case !r.partial:
		return &body{ReadCloser: r.body, total: r.total}, nil // 200: the whole file
	case r.total < 0 || (s.expect >= 0 && r.total != s.expect):
		r.body.Close()
		s.oneConnection()
		return nil, nil
	case r.total <= s.chunk:
		return &body{ReadCloser: r.body, total: r.total}, nil // the first chunk is all
	}
	return &body{ReadCloser: newParallel(ctx, s, r), total: r.total, final: true}, nil
}

func (s *httpSource) oneConnection() {
	s.mu.Lock()
	s.noParallel = true
	s.mu.Unlock()
}

// reply is a checked answer to get.
type reply struct {
	body    *watchedBody
	partial bool  // 206: the range asked for
	start   int64 // offset of its first byte
	total   int64 // length of the whole resource; -1 unknown
}

// expiredError is a resolved redirect target that stopped answering (a
// presigned URL past its expiry): the original URL is resolved again.
type expiredError struct{ err *StatusError }

func (e *expiredError) Error() string { return e.err.Error() + " from the redirect target" }
func (e *expiredError) Unwrap() error { return e.err }

// Permanent: the original URL is resolved again.
func (e *expiredError) Permanent() bool { return false }

// receive makes s tell f the size of every read off its connections
// (receiver).
func (s *httpSource) receive(f func(n int)) { s.received = f }

// get sends one GET for bytes [from, to] (to < 0: to the end; no Range
// header at all for the whole resource) to the URL the first answer was
// redirected to, under the host's connection budget and a watchdog, and
// checks the answer (check). Errors: errNoRanges (ranges went wrong),
// errRestart (the resource changed), *StatusError, *expiredError, or a
// transport error.
func (s *httpSource) get(ctx context.Context, from, to int64) (*reply, error) {
	s.mu.Lock()
	a := asked{u: s.orig, from: from, to: to, validator: s.validator}
	if s.final != nil {
		a.u, a.resolved = s.final, true
	}
	s.mu.Unlock()

	a.host = s.hosts(a.u.Host)
	release, err := a.host.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, a.u.String(), nil)
	if err != nil {
		cancel()
		release(false)
		return nil, &permanentError{err}
	}
	// Ask for the bytes as stored: a transparent gzip would change what we hash.
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "modelfetch")
	if a.ranged() {
		rng := fmt.Sprintf("bytes=%d-", from)
		if to >= 0 {
			rng += strconv.FormatInt(to, 10)
		}
		req.Header.Set("Range", rng)
		if a.validator != "" {
			req.Header.Set("If-Range", a.validator)
		}
	}
	dog := newWatchdog(s.idle, s.speed, cancel)
	req = req.WithContext(mirror.WithCredentialWait(req.Context(), dog.pause))
	resp, err := s.client.Do(req)
	if err != nil {
		dog.stop()
		if why := dog.fired(); why != nil && ctx.Err() == nil {
			err = why
		}
		cancel()
		release(false)
		return nil, err
	}
	wb := &watchedBody{body: resp.Body, dog: dog, ctx: ctx, cancel: cancel, release: release, count: s.received, host: a.host}
	r, err := s.check(resp, wb, a)
	if err != nil {
		wb.release = func(bool) { release(false) }
		wb.Close()
		return nil, err
	}
	return r, nil
}

// asked is what one get asked for, and of whom.
type asked struct {
	u         *url.URL
	resolved  bool // u is where a redirect led, not the source's own URL
	host      *hostLimiter
	from, to  int64
	validator string
}

func (a asked) ranged() bool { return a.from > 0 || a.to >= 0 }

// check turns an answer into a reply or an error: a 206 must be the range
// asked for, of the same version (its validator unchanged); a 401, 403 or
// 410 from a redirect target means it expired.
func (s *httpSource) check(resp *http.Response, body *watchedBody, a asked) (*reply, error) {
	if s.inspect != nil {
		if err := s.inspect(resp); err != nil {
			return nil, err
		}
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		s.learn(resp, a.u)
		return &reply{body: body, total: resp.ContentLength}, nil
	case resp.StatusCode == http.StatusPartialContent && a.ranged():
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != a.from {
			return nil, errNoRanges
		}
		if a.validator != "" && changed(resp, a.validator) {
			s.mu.Lock()
			s.validator = "" // learn the new version's on the next answer
			s.mu.Unlock()
			return nil, errRestart
		}
		s.learn(resp, a.u)
		s.mu.Lock()
		s.ranges = true
		s.mu.Unlock()
		return &reply{body: body, partial: true, start: start, total: total}, nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && a.ranged():
		return nil, errNoRanges
	case resp.StatusCode == http.StatusPartialContent:
		return nil, &permanentError{fmt.Errorf("asked for the whole file, the server answered with a part of it (206, %q)",
			resp.Header.Get("Content-Range"))}
	}
	se := &StatusError{Code: resp.StatusCode, Host: a.u.Host}
	if !se.Permanent() {
		se.RetryAfter, se.HasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusGone:
		if a.resolved {
			s.mu.Lock()
			// Only the link that expired: a chunk sent before another one
			// resolved the source again must not throw the new link away.
			if s.final != nil && s.final.String() == a.u.String() {
				s.final = nil
			}
			s.mu.Unlock()
			return nil, &expiredError{se}
		}
	}
	return nil, se
}

// learn records what later requests need: where redirects led, whether
// ranges work, and a validator for If-Range.
func (s *httpSource) learn(resp *http.Response, asked *url.URL) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if resp.Request != nil && resp.Request.URL.String() != asked.String() {
		s.final = resp.Request.URL
	}
	if resp.StatusCode == http.StatusOK {
		s.ranges = strings.EqualFold(strings.TrimSpace(resp.Header.Get("Accept-Ranges")), "bytes")
	}
	if s.validator == "" {
		s.validator = validatorOf(resp)
	}
}

// validatorOf is a strong ETag, else Last-Modified, else "".
func validatorOf(resp *http.Response) string {
	if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		return et
	}
	return resp.Header.Get("Last-Modified")
}

// changed reports whether a 206 names another version than validator (a
// server that ignores If-Range would otherwise splice two versions).
func changed(resp *http.Response, validator string) bool {
	if strings.HasPrefix(validator, `"`) {
		et := resp.Header.Get("ETag")
		return et != "" && et != validator
	}
	lm := resp.Header.Get("Last-Modified")
	return lm != "" && lm != validator
}

// parseContentRange parses "bytes START-END/TOTAL" (TOTAL may be "*", -1).
func parseContentRange(h string) (start, total int64, ok bool) {
	h, found := strings.CutPrefix(strings.TrimSpace(h), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(h, "/")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t <= end {
			return 0, 0, false
		}
		total = t
	}
	return start, total, true
}
