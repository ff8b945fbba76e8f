package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// stream is the bytes of one source as served, read once from front to back.
// Transient faults are retried and resumed inside Read; what Read returns is
// either the next bytes, io.EOF at the true end, errRestart (call rewind and
// read from byte 0 again), or a final error.
type stream interface {
	io.Reader
	// expectLen declares the served length when the server does not (a
	// body shorter than that is truncated). n < 0 is ignored.
	expectLen(n int64)
	// rewind starts again at byte 0.
	rewind()
	Close() error
}

// httpStream reads an http(s) URL and resumes with Range requests.
type httpStream struct {
	ctx    context.Context
	client *http.Client
	url    *url.URL
	idle   time.Duration
	rt     *retrier
	now    func() time.Time

	off       int64 // bytes delivered so far
	length    int64 // total served length, -1 when unknown
	declared  int64 // length declared by the manifest, -1 when unknown
	validator string
	ranges    bool // the server accepts byte ranges

	// Parallel download: with conns > 1 the first request asks for the
	// first chunk only; a server that answers with a range gets the rest
	// over several connections (par), one that answers 200 is read as is.
	conns      int
	chunk      int64
	hostSlots  chan struct{}
	buffers    chan struct{} // chunk buffer budget shared by all artifacts
	newRetrier func() *retrier
	noParallel bool // a parallel attempt failed on ranges: one connection from now on
	par        *parallel

	body    io.ReadCloser
	fresh   bool // body starts at byte 0 although off > 0 (see rewind)
	cancel  context.CancelFunc
	dog     *watchdog
	pending error // error to report after the bytes returned with it
	final   error
}

func (s *httpStream) expectLen(n int64) {
	if n >= 0 && s.declared < 0 {
		s.declared = n
	}
}

func (s *httpStream) rewind() {
	s.off = 0
	s.pending = nil
	s.final = nil
	if s.par != nil {
		s.par.close()
		s.par = nil
		s.noParallel = true
	}
	if s.fresh {
		s.fresh = false // keep the body: it already starts at byte 0
		return
	}
	s.closeBody()
}

func (s *httpStream) Close() error {
	if s.par != nil {
		s.par.close()
		s.par = nil
	}
	s.closeBody()
	return nil
}

func (s *httpStream) closeBody() {
	if s.dog != nil {
		s.dog.stop()
		s.dog = nil
	}
	if s.body != nil {
		s.body.Close()
		s.body = nil
	}
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}

func (s *httpStream) Read(p []byte) (int, error) {
	for {
		if s.final != nil {
			return 0, s.final
		}
		if s.par != nil {
			n, err := s.par.Read(p)
			s.off += int64(n)
			if err != nil && err != io.EOF {
				if errors.Is(err, errNoRanges) {
					err = errRestart // rewind falls back to one connection
				} else {
					s.final = err
				}
			}
			return n, err
		}
		if err := s.pending; err != nil {
			s.pending = nil
			if err := s.fail(err); err != nil {
				return 0, err
			}
			continue
		}
		if s.body == nil {
			if err := s.connect(); err != nil {
				if errors.Is(err, errRestart) {
					return 0, err
				}
				if err := s.fail(err); err != nil {
					return 0, err
				}
				continue
			}
			if s.fresh {
				return 0, errRestart
			}
			if s.par != nil {
				continue
			}
		}
		n, err := s.body.Read(p)
		if n > 0 {
			s.off += int64(n)
			s.dog.kick()
			s.rt.progress(s.off)
		}
		if err == io.EOF {
			// Short of what the server or the manifest promised is truncated
			// (DESIGN.md: truncated is not corrupt), whichever is longer.
			want := max(s.length, s.declared)
			if want >= 0 && s.off < want {
				err = &TruncatedError{Got: s.off, Want: want}
			}
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF:
			s.closeBody()
			return n, io.EOF
		}
		err = s.classify(err)
		s.closeBody()
		if n > 0 {
			s.pending = err
			return n, nil
		}
		if err := s.fail(err); err != nil {
			return 0, err
		}
	}
}

// fail spends a retry on err; it returns nil to try again, or the final error.
func (s *httpStream) fail(err error) error {
	if werr := s.rt.wait(s.ctx, err); werr != nil {
		if s.ctx.Err() != nil {
			werr = s.ctx.Err()
		}
		s.final = werr
		return werr
	}
	return nil
}

// classify turns the cancellation our watchdog caused into a StallError.
func (s *httpStream) classify(err error) error {
	if s.dog != nil && s.dog.fired.Load() && s.ctx.Err() == nil {
		return &StallError{Idle: s.idle}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &TruncatedError{Got: s.off, Want: s.length}
	}
	return err
}

// connect sends the GET (ranged when resuming) and checks the answer.
func (s *httpStream) connect() error {
	if s.off > 0 && !s.ranges {
		return errRestart
	}
	ctx, cancel := context.WithCancel(s.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url.String(), nil)
	if err != nil {
		cancel()
		return &permanentError{err}
	}
	// Ask for the bytes as stored: a transparent gzip would change what we hash.
	req.Header.Set("Accept-Encoding", "identity")
	probe := s.off == 0 && s.conns > 1 && !s.noParallel
	switch {
	case s.off > 0:
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", s.off))
		if s.validator != "" {
			req.Header.Set("If-Range", s.validator)
		}
	case probe:
		// A ranged GET, not HEAD: signed URLs often refuse HEAD.
		req.Header.Set("Range", fmt.Sprintf("bytes=0-%d", s.chunk-1))
	}
	s.cancel = cancel
	s.dog = newWatchdog(s.idle, cancel)
	resp, err := s.client.Do(req)
	if err != nil {
		err = s.classify(err)
		s.closeBody()
		return err
	}
	s.body = resp.Body
	s.dog.kick()
	switch {
	case resp.StatusCode == http.StatusOK:
		s.learn(resp)
		s.length = resp.ContentLength
		if s.off > 0 {
			// Range ignored, or the file changed (If-Range): start over, and
			// keep this body, which does start at byte 0.
			s.fresh = true
		}
		return nil
	case resp.StatusCode == http.StatusPartialContent && probe:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != 0 || total < 0 {
			s.closeBody()
			s.noParallel = true
			return errRestart
		}
		s.learn(resp)
		s.ranges = true
		s.length = total
		if total <= s.chunk {
			return nil // the first chunk is the whole file
		}
		first := &watchedBody{ReadCloser: resp.Body, dog: s.dog, cancel: s.cancel, release: func() {}}
		s.body, s.dog, s.cancel = nil, nil, nil
		s.par = newParallel(s.ctx, s.client, s.url, s.validator, total, s.chunk, s.conns, s.idle, s.newRetrier, s.hostSlots, s.buffers, first)
		return nil
	case resp.StatusCode == http.StatusPartialContent && s.off > 0:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != s.off {
			// A server that gets ranges wrong: never trust it with one again.
			s.closeBody()
			s.ranges = false
			return errRestart
		}
		if total >= 0 {
			s.length = total
		}
		return nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && s.off > 0:
		s.closeBody()
		s.ranges = false
		return errRestart
	}
	se := &StatusError{Code: resp.StatusCode}
	if se.Transient() {
		se.RetryAfter, se.HasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	s.closeBody()
	return se
}

// learn records what resuming needs: range support and a validator.
func (s *httpStream) learn(resp *http.Response) {
	s.ranges = strings.EqualFold(strings.TrimSpace(resp.Header.Get("Accept-Ranges")), "bytes")
	s.validator = ""
	if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		s.validator = et
	} else if lm := resp.Header.Get("Last-Modified"); lm != "" {
		s.validator = lm
	}
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
	if err1 != nil || err2 != nil || end < start {
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

// watchdog cancels a request when no byte has arrived for d. It is reset
// by every read that returns data, so it catches stalls without putting a
// deadline on a long, healthy download.
type watchdog struct {
	t     *time.Timer
	d     time.Duration
	fired atomic.Bool
}

func newWatchdog(d time.Duration, cancel context.CancelFunc) *watchdog {
	w := &watchdog{d: d}
	w.t = time.AfterFunc(d, func() {
		w.fired.Store(true)
		cancel()
	})
	return w
}

func (w *watchdog) kick() {
	if w != nil && !w.fired.Load() {
		w.t.Reset(w.d)
	}
}

func (w *watchdog) stop() { w.t.Stop() }

// fileStream reads a local file (file:// sources).
type fileStream struct {
	path string
	f    *os.File
	ctx  context.Context
}

func openFile(ctx context.Context, p string) (*fileStream, error) {
	f, err := os.Open(p)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &permanentError{err}
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, &permanentError{errors.New("is a directory")}
	}
	return &fileStream{path: p, f: f, ctx: ctx}, nil
}

func (s *fileStream) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.f.Read(p)
	if err != nil && err != io.EOF {
		err = &permanentError{err}
	}
	return n, err
}

func (s *fileStream) expectLen(int64) {}
func (s *fileStream) rewind()         { _, _ = s.f.Seek(0, io.SeekStart) }
func (s *fileStream) Close() error    { return s.f.Close() }
