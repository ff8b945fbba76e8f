package fetch

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// parallel is the body of a large file from a server that allows ranges:
// chunks fetched over several connections and handed over in order, each
// as its bytes come (piece), so decoding and hashing run while later
// chunks download.
//
// Memory is bounded whatever the file size, or the size a server claims: a
// chunk is fetched only with a token from the budget shared by every
// artifact (Options.BufferBytes), held until the chunk has been read, and
// at most `window` chunks per file are fetched or waiting, in a ring of
// that many slots. Tokens are taken in chunk order, so the chunk a reader
// waits for always has one and the budget cannot deadlock. Each chunk is
// retried and resumed on its own. Close waits for every worker.
//
// Its requests carry one claim (share.go): the host's free slots go to the
// file with the fewest in flight, so a file alone gets up to its
// connections (Options.Connections) while files that compete share them.
// A file whose reader falls behind (bzip2 decoding on busy cores) asks for
// chunks only as fast as it reads them (readahead.go): its connections and
// buffer tokens go to the files that can use them, not to bytes that would
// wait in memory.
type parallel struct {
	ctx    context.Context
	cancel context.CancelFunc
	src    *httpSource
	total  int64
	chunk  int64
	n      int64 // chunks
	claim  *claim

	slots  []chan *piece // chunk i, from when it is asked for, in slots[i%len]
	window chan struct{} // one token per chunk asked for and not yet read
	free   chan []byte   // buffers to reuse: the Fetcher's, else this file's
	done   chan struct{} // closed on the first failure
	once   sync.Once
	err    error
	wg     sync.WaitGroup
	held   atomic.Int64 // buffer tokens taken and not yet given back
	ahead  *readahead

	idx   int64  // next chunk to read
	cur   *piece // the chunk being read
	off   int    // how much of it has been read
	ready bool   // cur is all there, and the readahead knows
}

// piece is one chunk on its way. Its buffer fills as the bytes come, and
// the reader reads what has come while the rest downloads: the chunk the
// decoder waits for is read as it arrives, not once complete, so decoding
// and hashing start with the first bytes of a file instead of a chunk's
// time later, and the last chunks of a run are not waited for whole.
type piece struct {
	buf  []byte        // the chunk's bytes: buf[:n] have come
	n    atomic.Int64  // stored after the bytes it counts
	done atomic.Bool   // all of buf has come; stored after the last n
	wake chan struct{} // one pending signal: n grew, or done
}

// grew wakes the reader, if it waits.
func (c *piece) grew() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func newParallel(ctx context.Context, src *httpSource, first *reply) *parallel {
	cl := newClaim(first.total - src.chunk) // the first chunk is asked for
	ctx, cancel := context.WithCancel(withClaim(ctx, cl))
	window := src.conns + 2
	p := &parallel{ctx: ctx, cancel: cancel, src: src, total: first.total, chunk: src.chunk, claim: cl,
		n:     (first.total + src.chunk - 1) / src.chunk,
		slots: make([]chan *piece, window), window: make(chan struct{}, window),
		free: src.free, done: make(chan struct{}), ahead: newReadahead()}
	if p.free == nil {
		p.free = make(chan []byte, window+1)
	}
	for i := range p.slots {
		p.slots[i] = make(chan *piece, 1)
	}
	p.wg.Add(1)
	go p.dispatch(first)
	return p
}

func (p *parallel) fail(err error) {
	if errors.Is(err, errNoRanges) {
		p.src.oneConnection() // the pass that follows reads on one connection
	}
	p.once.Do(func() {
		p.err = err
		close(p.done)
	})
}

// take waits for a token of c, or for the end.
func (p *parallel) take(c chan struct{}) bool {
	select {
	case c <- struct{}{}:
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *parallel) dispatch(first *reply) {
	defer p.wg.Done()
	defer func() {
		if first != nil {
			first.body.Close()
		}
	}()
	sem := make(chan struct{}, p.src.conns)
	for i := int64(0); i < p.n; i++ {
		if !p.take(p.window) {
			return
		}
		// Holding a slot of this file's window, none of the shared budget.
		if !p.ahead.wait(p.ctx) {
			return
		}
		if p.src.buffers != nil {
			if !p.take(p.src.buffers) {
				return
			}
			p.held.Add(1)
		}
		if !p.take(sem) {
			return
		}
		var r *reply
		if i == 0 {
			r, first = first, nil
		}
		p.claim.left.Store(max(0, p.total-(i+1)*p.chunk))
		p.ahead.ask(i)
		pc := p.newPiece(i)
		p.slots[i%int64(len(p.slots))] <- pc // free: the window holds fewer chunks than there are slots
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			if err := p.fetchChunk(i, r, pc); err != nil {
				p.fail(err)
				return
			}
			p.ahead.fetched(time.Since(start))
			pc.done.Store(true)
			pc.grew()
		}()
	}
}

// newPiece is chunk i with a buffer: the Fetcher's to reuse, else a new one.
func (p *parallel) newPiece(i int64) *piece {
	start := i * p.chunk
	end := min(start+p.chunk, p.total)
	var buf []byte
	select {
	case buf = <-p.free:
	default:
		buf = make([]byte, p.chunk)
	}
	return &piece{buf: buf[:end-start], wake: make(chan struct{}, 1)}
}

// fetchChunk downloads chunk i into pc (starting from r, when given: the
// answer that probed for ranges), resuming within the chunk after faults.
func (p *parallel) fetchChunk(i int64, r *reply, pc *piece) error {
	start := i * p.chunk
	end := start + int64(len(pc.buf)) // exclusive
	got := 0
	rt := p.src.newRetrier()
	for {
		if r == nil {
			from := start + int64(got)
			var err error
			r, err = p.src.get(p.ctx, from, end-1)
			if err == nil && (!r.partial || r.start != from || r.total != p.total) {
				r.body.Close()
				r, err = nil, errNoRanges
			}
			if err != nil {
				if errors.Is(err, errNoRanges) || errors.Is(err, errRestart) {
					return err
				}
				if werr := rt.wait(p.ctx, err); werr != nil {
					return werr
				}
				continue
			}
		}
		err := fill(r.body, pc, &got)
		r.body.Close()
		r = nil
		if got == len(pc.buf) {
			return nil
		}
		if p.ctx.Err() != nil {
			return p.ctx.Err()
		}
		if err == nil || err == io.EOF {
			err = &TruncatedError{Got: start + int64(got), Want: end}
		}
		rt.progress(int64(got))
		if werr := rt.wait(p.ctx, err); werr != nil {
			return werr
		}
	}
}

// fill reads body into pc's buffer from *got until it is full or the body
// ends, making each read visible to the reader as it comes.
func fill(body io.Reader, pc *piece, got *int) error {
	for *got < len(pc.buf) {
		n, err := body.Read(pc.buf[*got:])
		if n > 0 {
			*got += n
			pc.n.Store(int64(*got))
			pc.grew()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Read hands over the chunks in order, each as its bytes come.
func (p *parallel) Read(b []byte) (int, error) {
	for {
		if p.cur == nil {
			if p.idx == p.n {
				return 0, io.EOF
			}
			select {
			case pc := <-p.slots[p.idx%int64(len(p.slots))]:
				p.cur, p.off, p.ready = pc, 0, false
				p.ahead.taken(p.idx)
				p.idx++
			case <-p.done:
				return 0, p.err
			case <-p.ctx.Done():
				return 0, p.ctx.Err()
			}
		}
		done := p.cur.done.Load() // before n: once done, n is final
		if done && !p.ready {
			p.ready = true
			p.ahead.ready() // the reader's own time on the chunk starts now
		}
		if have := int(p.cur.n.Load()); have > p.off {
			n := copy(b, p.cur.buf[p.off:have])
			p.off += n
			return n, nil
		}
		if done {
			p.finish()
			continue
		}
		select {
		case <-p.cur.wake:
		case <-p.done:
			return 0, p.err
		case <-p.ctx.Done():
			return 0, p.ctx.Err()
		}
	}
}

// finish is the reader done with the chunk it read: its buffer goes back
// to be reused, its place in the window and its buffer token to the budget.
func (p *parallel) finish() {
	p.ahead.read()
	select {
	case p.free <- p.cur.buf[:cap(p.cur.buf)]:
	default:
	}
	p.cur = nil
	<-p.window
	p.giveBack(1)
}

// giveBack returns n buffer tokens to the shared budget.
func (p *parallel) giveBack(n int64) {
	if p.src.buffers == nil {
		return
	}
	for ; n > 0; n-- {
		<-p.src.buffers
		p.held.Add(-1)
	}
}

// Close stops every transfer, waits for the workers and gives back the
// buffer tokens of chunks that will never be read.
func (p *parallel) Close() error {
	p.cancel()
	p.wg.Wait()
	p.giveBack(p.held.Load())
	return nil
}
