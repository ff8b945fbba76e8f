package fetch

import (
	"context"
	"errors"
	"io"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// download tries each source of m in order until one delivers verified
// bytes into tmp and cs (either may be nil). The error is an *Error.
func (f *Fetcher) download(ctx context.Context, m *manifest.Model, tmp *tempFile, cs *cacheSink, r *Result) error {
	var sinks []sink
	if tmp != nil {
		sinks = append(sinks, tmp)
	}
	if cs != nil {
		sinks = append(sinks, cs)
	}
	ferr := &Error{Artifact: m.Name, Kind: KindNetwork}
	cands := f.candidates(m)
	for i, c := range cands {
		if f.o.Offline && c.src.Parsed.Scheme != "file" {
			continue
		}
		// With another source to go to, an unreachable host is left at once.
		next := f.more(cands[i+1:])
		if err := f.dead.check(f.dialURL(c.src)); err != nil {
			f.sourceFailed(m.Name, ferr, &SourceError{Source: c.name, Kind: KindNetwork, Err: err, Next: next, Mirror: c.mirror})
			continue
		}
		res, err := f.fetchSource(ctx, m, c.src, sinks, sourceOptions{leaveUnreachable: next, leaveLongWait: next})
		r.Served += res.served
		r.Retries += res.retries
		if err == nil {
			r.Source, r.Mirror = c.name, c.mirror
			r.Size = res.pass.installedSize
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.dead.mark(f.dialURL(c.src), err)
		kind := KindNetwork
		switch {
		case isLocal(err):
			ferr.Kind = KindLocal
			ferr.Err = err
			return ferr
		case miss(c, err):
			// Quiet: a mirror that lacks a file is what mirrors are like.
			ferr.Sources = append(ferr.Sources, &SourceError{Source: c.name, Kind: KindNetwork, Err: &missError{c.mirror}, Mirror: c.mirror})
			continue
		case isIntegrity(err):
			kind = KindIntegrity
			ferr.Kind = KindIntegrity
		}
		f.sourceFailed(m.Name, ferr, &SourceError{Source: c.name, Kind: kind, Err: err, Next: next, Mirror: c.mirror})
	}
	switch {
	case len(ferr.Sources) == 0 && f.o.MirrorOnly:
		ferr.Err = errors.New("no mirror to fetch from, and the manifest's own sources are not to be tried (mirror-only)")
	case len(ferr.Sources) == 0:
		ferr.Err = errors.New("no source to fetch from")
	case f.o.MirrorOnly && len(m.Sources) > 0:
		ferr.Err = errors.New("not fetched from any mirror; the manifest's own sources were not tried (mirror-only)")
	}
	return ferr
}

// sourceFailed records a source given up on, and says so.
func (f *Fetcher) sourceFailed(name string, ferr *Error, se *SourceError) {
	ferr.Sources = append(ferr.Sources, se)
	f.obs.SourceFailed(name, se)
}

// sourceResult is what reading one source came to.
type sourceResult struct {
	served  int64 // bytes received, over every pass
	retries int
	pass    pass // the last pass
}

// pass is what one run of the pipeline saw.
type pass struct {
	format                    decompress.Format
	installed, served         digest.Digest
	installedSize, servedSize int64
}

// sourceOptions say how fetchSource reads one source.
type sourceOptions struct {
	// hashServed hashes the bytes as served even when no digest of them is
	// declared (lock's probe records it).
	hashServed bool
	// limit caps the installed bytes when the model declares no size
	// (lock's probe); 0 means the model's size is the cap.
	limit int64
	// leaveUnreachable gives up an unreachable host (dead.go) at once
	// instead of retrying it.
	leaveUnreachable bool
	// leaveLongWait gives the source up at once when its server asks for
	// a longer wait than MaxRetryAfter (RetryAfterError), instead of
	// waiting the cap: another source is waiting.
	leaveLongWait bool
}

// fetchSource runs the pipeline for one source until it delivers verified
// bytes into sinks or fails.
//
// The stream resumes transient faults itself; a pass is run again from
// byte 0 when the source can only start over (errRestart), and once more,
// from a fresh request, when the body ended cleanly but short (the same
// short length twice is an integrity failure).
func (f *Fetcher) fetchSource(ctx context.Context, m *manifest.Model, src *manifest.Source, sinks []sink, o sourceOptions) (res sourceResult, err error) {
	var retries atomic.Int64
	faults := new(atomic.Int64)
	newRetrier := func() *retrier {
		return &retrier{p: &f.policy, faults: faults, hosts: f.host, leaveUnreachable: o.leaveUnreachable, leaveLongWait: o.leaveLongWait, onRetry: func(err error, wait time.Duration) {
			retries.Add(1)
			f.obs.Retry(m.Name, &SourceError{Source: redact.URL(src.Parsed), Kind: KindNetwork, Err: err}, wait)
		}}
	}
	defer func() { res.retries = int(retries.Load()) }()

	expect := src.Size
	if expect < 0 && src.Compression == decompress.None {
		expect = m.Size
	}
	sc, err := f.openSource(m, src, expect, newRetrier)
	if err != nil {
		return res, err
	}
	if oc, ok := sc.(*ociSource); ok {
		oc.limit = o.limit // a tar entry's header is held to it before its data
	}
	rt := newRetrier()
	st := &stream{ctx: ctx, src: sc, rt: rt, expect: expect}
	// Closed after every pass's decoder has been closed (and joined) in pipe.
	defer st.Close()

	counted, received := f.counters(m.Name, sc, st)
	lastShort := int64(-1)
	for {
		for _, s := range sinks {
			if err := s.reset(); err != nil {
				return res, &localError{err}
			}
		}
		res.pass, err = f.pipe(ctx, m, src, st, counted, sinks, o)
		res.served = max(counted.n, received.Load())
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		fresh, err := f.again(ctx, st, rt, faults, err, &lastShort)
		if err != nil {
			return res, err
		}
		st.rewind(fresh)
	}
}

// counters count what the pipeline reads of st (telling a ServedObserver),
// and, for a source whose connections count it, every byte received, read
// in order or not yet (telling a ReceivedObserver): what the network
// carried, since an interrupted ranged download has chunks received behind
// the one its reader waits for.
func (f *Fetcher) counters(name string, sc source, st *stream) (*countingReader, *atomic.Int64) {
	counted := &countingReader{r: st}
	if so, ok := f.obs.(ServedObserver); ok {
		counted.report = func(n int64) { so.Served(name, n) }
	}
	received := new(atomic.Int64)
	if rs, ok := sc.(receiver); ok {
		ro, _ := f.obs.(ReceivedObserver)
		rs.receive(func(n int) {
			if got := received.Add(int64(n)); ro != nil {
				ro.Received(name, got)
			}
		})
	}
	return counted, received
}

// openSource is the source for src; expect is its declared served length.
func (f *Fetcher) openSource(m *manifest.Model, src *manifest.Source, expect int64, newRetrier func() *retrier) (source, error) {
	if src.Parsed.Scheme == "file" {
		return &fileSource{path: filepath.FromSlash(src.Parsed.Path)}, nil
	}
	if f.o.Offline {
		return nil, &permanentError{errors.New("offline: not reaching the network")}
	}
	if isOCI(src) {
		return f.ociSource(m, src, newRetrier), nil
	}
	if src.Ref != nil {
		return f.openRef(m.Name, src, expect, newRetrier)
	}
	return f.httpSource(src.Parsed, expect, newRetrier), nil
}

// httpSource reads u with the fetcher's client and settings.
func (f *Fetcher) httpSource(u *url.URL, expect int64, newRetrier func() *retrier) *httpSource {
	return &httpSource{client: f.client, orig: u, hosts: f.host, idle: f.o.IdleTimeout,
		speed: speed{Min: f.o.MinSpeed, Window: f.o.SpeedWindow}, now: f.o.Now,
		conns: f.o.Connections, chunk: f.o.ChunkSize, buffers: f.chunks, free: f.free, newRetrier: newRetrier, expect: expect}
}

// again decides, after a pass failed with err, whether the source gets
// another pass (fresh: from a new request, not a body kept from the last
// one) or the error is final.
func (f *Fetcher) again(ctx context.Context, st *stream, rt *retrier, faults *atomic.Int64, err error, lastShort *int64) (fresh bool, final error) {
	switch {
	case errors.Is(err, errRestart):
		// Not a fault of its own, but a server that restarts every
		// download must not hold the run.
		if faults.Add(1) > f.policy.MaxFaults {
			if st.fault != nil {
				return false, st.fault
			}
			return false, &permanentError{errors.New("the server restarts every download")}
		}
		return false, nil
	case st.ended && ((st.expect >= 0 && st.off < st.expect) || decompress.IsTruncated(err)):
		if st.off == *lastShort {
			return false, &ShortError{Served: st.off, Want: st.expect}
		}
		*lastShort = st.off
		if werr := rt.wait(ctx, &TruncatedError{Got: st.off, Want: st.expect}); werr != nil {
			return false, werr
		}
		return true, nil
	}
	return false, err
}

// pipe is one pass of the pipeline over st. Its stages are joined before it
// returns: the decoder's Close waits for the goroutines that read st.
func (f *Fetcher) pipe(ctx context.Context, m *manifest.Model, src *manifest.Source, st *stream, in io.Reader, sinks []sink, o sourceOptions) (p pass, err error) {
	// The bytes as served are hashed only when a digest of them is declared
	// or asked for (lock): otherwise it would be a second SHA-256 pass.
	served := digest.NewSizeReader(in, src.Size)
	if o.hashServed || !src.SHA256.IsZero() {
		served = digest.NewReader(in, src.SHA256, src.Size)
	}
	dec, err := decompress.Open(ctx, src.Compression, served, decompress.Options{Pool: f.pool})
	if err != nil {
		return p, err
	}
	defer dec.Close()
	if dec.Format() == decompress.None {
		// Served bytes are installed bytes: the declared size tells a short body.
		st.expectLen(m.Size)
	}
	var out io.Reader = dec
	if m.Size < 0 && o.limit > 0 {
		out = &capReader{r: dec, left: o.limit, limit: o.limit}
	}
	installed := digest.NewReader(out, m.SHA256, m.Size)
	ws := make([]io.Writer, len(sinks))
	for i, s := range sinks {
		ws[i] = s
	}
	w := &progressWriter{w: &localWriter{io.MultiWriter(ws...)}, name: m.Name, obs: f.obs}
	if _, err := copyCtx(ctx, w, installed); err != nil {
		return p, err
	}
	// The decoder stopped at its end marker: nothing may follow, and reading
	// to EOF checks the as-served size and digest.
	var one [1]byte
	if n, err := io.ReadAtLeast(served, one[:], 1); n > 0 {
		return p, &trailingError{int64(n)}
	} else if err != io.EOF {
		return p, err
	}
	return pass{format: dec.Format(), installed: installed.Digest(), installedSize: installed.Size(),
		served: served.Digest(), servedSize: served.Size()}, nil
}

// capReader fails a stream that goes past limit bytes (the bound on what
// lock decodes for a model with no declared size).
type capReader struct {
	r           io.Reader
	left, limit int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		n, c.left = int(c.left), 0
		return n, &digest.SizeError{Got: c.limit + 1, Want: c.limit, Over: true}
	}
	c.left -= int64(n)
	return n, err
}

// sink is where verified bytes go; reset starts it over.
type sink interface {
	io.Writer
	reset() error
}

// copyCtx is io.Copy with a large buffer that stops when ctx is done.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			wm, werr := w.Write(buf[:m])
			n += int64(wm)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

type countingReader struct {
	r      io.Reader
	n      int64
	report func(n int64) // or nil
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 && c.report != nil {
		c.report(c.n)
	}
	return n, err
}

// localWriter marks write failures as this machine's (disk full and such).
type localWriter struct{ w io.Writer }

func (l *localWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err != nil {
		err = &localError{err}
	}
	return n, err
}

type progressWriter struct {
	w    io.Writer
	name string
	obs  Observer
	n    int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	p.obs.Progress(p.name, p.n)
	return n, err
}
