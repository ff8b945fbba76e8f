package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// parallel fetches a resource that allows byte ranges in chunks over several
// connections, and hands the bytes over in order, so decoding and hashing
// run while later chunks download.
//
// Memory is bounded whatever the file size: a chunk is fetched only with a
// token from the budget shared by every artifact (Options.BufferBytes), held
// until the chunk has been read, and at most `window` per file; peak
// buffering is the budget plus the chunk each artifact is reading. Tokens are
// taken in chunk order, so the chunk a reader waits for always has one and
// the budget cannot deadlock. Each chunk is retried and resumed on its own.
type parallel struct {
	ctx        context.Context
	cancel     context.CancelFunc
	client     *http.Client
	url        *url.URL
	validator  string
	total      int64
	chunk      int64
	idle       time.Duration
	newRetrier func() *retrier
	hostSlots  chan struct{} // connections to this host across all artifacts
	buffers    chan struct{} // chunk buffers across all artifacts

	chunks []chan []byte // chunk i's bytes, once complete
	window chan struct{} // one token per chunk fetched or buffered, not yet read
	free   chan []byte   // buffers to reuse
	done   chan struct{} // closed on the first failure
	once   sync.Once
	err    error
	wg     sync.WaitGroup

	held atomic.Int64 // buffer tokens taken and not yet given back

	idx int    // next chunk to read
	cur []byte // unread part of the chunk being read
	buf []byte // its whole buffer, returned to free when read
}

// errNoRanges: a chunk came back whole (200) or with the wrong range; the
// stream falls back to one connection.
var errNoRanges = errors.New("server stopped honouring ranges")

func newParallel(ctx context.Context, c *http.Client, u *url.URL, validator string, total, chunk int64,
	conns int, idle time.Duration, newRetrier func() *retrier, hostSlots, buffers chan struct{}, first io.ReadCloser) *parallel {
	ctx, cancel := context.WithCancel(ctx)
	k := int((total + chunk - 1) / chunk)
	window := conns + 2
	p := &parallel{ctx: ctx, cancel: cancel, client: c, url: u, validator: validator, total: total, chunk: chunk,
		idle: idle, newRetrier: newRetrier, hostSlots: hostSlots, buffers: buffers,
		chunks: make([]chan []byte, k), window: make(chan struct{}, window), free: make(chan []byte, window+1),
		done: make(chan struct{})}
	for i := range p.chunks {
		p.chunks[i] = make(chan []byte, 1)
	}
	p.wg.Add(1)
	go p.dispatch(conns, first)
	return p
}

func (p *parallel) fail(err error) {
	p.once.Do(func() {
		p.err = err
		close(p.done)
	})
}

func (p *parallel) dispatch(conns int, first io.ReadCloser) {
	defer p.wg.Done()
	sem := make(chan struct{}, conns)
	for i := range p.chunks {
		select {
		case p.window <- struct{}{}:
		case <-p.ctx.Done():
			closeBody(first)
			return
		}
		if p.buffers != nil {
			select {
			case p.buffers <- struct{}{}:
				p.held.Add(1)
			case <-p.ctx.Done():
				closeBody(first)
				return
			}
		}
		select {
		case sem <- struct{}{}:
		case <-p.ctx.Done():
			closeBody(first)
			return
		}
		var body io.ReadCloser
		if i == 0 {
			body, first = first, nil
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() { <-sem }()
			b, err := p.fetchChunk(i, body)
			if err != nil {
				p.fail(err)
				return
			}
			p.chunks[i] <- b
		}()
	}
}

func closeBody(b io.ReadCloser) {
	if b != nil {
		b.Close()
	}
}

// fetchChunk downloads chunk i (starting from body, when given: the
// response that probed for ranges), resuming within the chunk after faults.
func (p *parallel) fetchChunk(i int, body io.ReadCloser) ([]byte, error) {
	start := int64(i) * p.chunk
	end := min(start+p.chunk, p.total) // exclusive
	var buf []byte
	select {
	case buf = <-p.free:
	default:
		buf = make([]byte, p.chunk)
	}
	buf = buf[:end-start]
	got := 0
	rt := p.newRetrier()
	for {
		if body == nil {
			var err error
			body, err = p.request(start+int64(got), end-1)
			if err != nil {
				if errors.Is(err, errNoRanges) {
					return nil, err
				}
				if werr := rt.wait(p.ctx, err); werr != nil {
					return nil, werr
				}
				continue
			}
		}
		n, err := p.readFull(body, buf[got:])
		got += n
		body.Close()
		body = nil
		if got == len(buf) {
			return buf, nil
		}
		if p.ctx.Err() != nil {
			return nil, p.ctx.Err()
		}
		if err == nil || err == io.EOF {
			err = &TruncatedError{Got: start + int64(got), Want: end}
		}
		rt.progress(int64(got))
		if werr := rt.wait(p.ctx, err); werr != nil {
			return nil, werr
		}
	}
}

// readFull reads into b until it is full or the body fails, with the idle
// watchdog armed by request.
func (p *parallel) readFull(body io.ReadCloser, b []byte) (int, error) {
	wb, _ := body.(*watchedBody)
	n := 0
	for n < len(b) {
		m, err := body.Read(b[n:])
		n += m
		if m > 0 && wb != nil {
			wb.dog.kick()
		}
		if err != nil {
			if wb != nil && wb.dog.fired.Load() && p.ctx.Err() == nil {
				err = &StallError{Idle: p.idle}
			}
			return n, err
		}
	}
	return n, nil
}

// watchedBody is a response body with its request's idle watchdog; closing
// it releases the request and the connection slot.
type watchedBody struct {
	io.ReadCloser
	dog     *watchdog
	cancel  context.CancelFunc
	release func()
}

func (w *watchedBody) Close() error {
	w.dog.stop()
	err := w.ReadCloser.Close()
	w.cancel()
	w.release()
	return err
}

// request asks for bytes [from, to] and checks that they are what came back.
func (p *parallel) request(from, to int64) (io.ReadCloser, error) {
	release := func() {}
	if p.hostSlots != nil {
		select {
		case p.hostSlots <- struct{}{}:
			release = func() { <-p.hostSlots }
		case <-p.ctx.Done():
			return nil, p.ctx.Err()
		}
	}
	ctx, cancel := context.WithCancel(p.ctx)
	fail := func(err error) (io.ReadCloser, error) {
		cancel()
		release()
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url.String(), nil)
	if err != nil {
		return fail(&permanentError{err})
	}
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
	if p.validator != "" {
		req.Header.Set("If-Range", p.validator)
	}
	dog := newWatchdog(p.idle, cancel)
	resp, err := p.client.Do(req)
	if err != nil {
		dog.stop()
		if dog.fired.Load() && p.ctx.Err() == nil {
			err = &StallError{Idle: p.idle}
		}
		return fail(err)
	}
	if resp.StatusCode != http.StatusPartialContent {
		resp.Body.Close()
		dog.stop()
		if resp.StatusCode == http.StatusOK {
			return fail(errNoRanges)
		}
		se := &StatusError{Code: resp.StatusCode}
		if se.Transient() {
			se.RetryAfter, se.HasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return fail(se)
	}
	if s, total, ok := parseContentRange(resp.Header.Get("Content-Range")); !ok || s != from || (total >= 0 && total != p.total) {
		resp.Body.Close()
		dog.stop()
		return fail(errNoRanges)
	}
	return &watchedBody{ReadCloser: resp.Body, dog: dog, cancel: cancel, release: release}, nil
}

// Read hands over the chunks in order.
func (p *parallel) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.buf != nil {
			select {
			case p.free <- p.buf[:cap(p.buf)]:
			default:
			}
			p.buf = nil
		}
		if p.idx == len(p.chunks) {
			return 0, io.EOF
		}
		select {
		case c := <-p.chunks[p.idx]:
			p.cur, p.buf = c, c
			p.idx++
			<-p.window
			p.giveBack(1)
		case <-p.done:
			return 0, p.err
		case <-p.ctx.Done():
			return 0, p.ctx.Err()
		}
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// giveBack returns n buffer tokens to the shared budget.
func (p *parallel) giveBack(n int64) {
	if p.buffers == nil {
		return
	}
	for ; n > 0; n-- {
		<-p.buffers
		p.held.Add(-1)
	}
}

// close stops every transfer, waits for the workers and gives back the
// buffer tokens of chunks that will never be read.
func (p *parallel) close() {
	p.cancel()
	p.wg.Wait()
	p.giveBack(p.held.Load())
}
