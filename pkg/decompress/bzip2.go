package decompress

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	dbzip2 "github.com/dsnet/compress/bzip2"
)

// Parallel bzip2. The goroutine that calls Read scans the input for block
// boundaries (the 48-bit block and end-of-stream magics, at any bit offset),
// wraps each block as a one-block stream and hands it to a goroutine that
// decodes it (bzblock.go; dsnet/compress judges what that decoder leaves to
// it); blocks are emitted in order. The scan is the only reader of the
// input, so nothing reads it behind the caller's back.
//
// Memory is bounded whatever the input: a block holds its compressed bits
// (at most bzMaxBlock), its bytes before the first run-length stage (at most
// 0.9 MB) and at most bzBlockOut decoded bytes; the rest of a block that
// decodes to more (a block of zeros decodes to 45 MB) is decoded as it is
// emitted. The decoder's tables (5 MB at level 9) are held only while a
// block is decoded, by at most bzDecSlots blocks at once across all streams (dsnet/compress's, 4 bytes per block byte, by the
// blocks it decodes). A stream holds one block plus one per pool token it
// could take.

const (
	bzBlockMagic = 0x314159265359
	bzEOSMagic   = 0x177245385090
	bzHead       = 10 // "BZh", the level digit and the block magic, before a block's bits
	// bzBlockOut is how much of a block's output is decoded ahead of the reader.
	bzBlockOut = 1 << 20
	// bzMinBlock is the fewest bits a block can have (CRC, flags, origin pointer, bitmap).
	bzMinBlock = 32 + 1 + 24 + 16
)

// bzMaxBlock is the most compressed bytes a block of the level can take: at
// most one symbol per block byte plus one, each at most 20 bits, plus tables.
func bzMaxBlock(level byte) int { return int(level-'0')*100_000*20/8 + 64<<10 }

var errClosed = errors.New("decompress: read after close")

func bzCorrupt(format string, a ...any) error {
	return &CorruptError{Format: Bzip2, Err: fmt.Errorf(format, a...)}
}

// bzBlockError is the error of a block that failed to decode. The scanner
// had the whole block, up to the magic after it: a decoder that ran out of
// it (io.ErrUnexpectedEOF) found a block shorter than its data, which is
// corrupt, not truncated, so the error says so without wrapping
// io.ErrUnexpectedEOF.
func bzBlockError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("a block ends inside its data: " + err.Error())
	}
	return &CorruptError{Format: Bzip2, Err: err}
}

func bzTruncated(what string) error {
	return fmt.Errorf("bzip2 stream ends inside %s: %w", what, io.ErrUnexpectedEOF)
}

// bzBlock is one block, as scanned and then as decoded.
type bzBlock struct {
	stream    []byte // the block as a one-block bzip2 stream
	bits      int    // the block's own bits (CRC, then data), from byte bzHead of stream
	level     byte   // '1'..'9'
	crc       uint32 // stored block CRC
	split     bool   // a block magic ended this block: the next block continues the stream
	streamEnd bool   // the stream ends after this block
	streamCRC uint32 // stored stream CRC, when streamEnd
	token     bool   // holds a pool token

	done chan struct{} // closed when out, rest and err are set
	out  []byte        // decoded bytes not yet emitted
	rest io.Reader     // the decoder of the rest of the block, when out filled up
	buf  *[]byte       // out's buffer, from bzOutPool
	err  error
}

// decode decodes the block's first bzBlockOut bytes with the block decoder
// (bzblock.go), or with dsnet/compress's when that one leaves the block to it.
func (b *bzBlock) decode() {
	bzDecSlots <- struct{}{}
	d := bzDecPool.Get().(*bzDec)
	run, err := d.decode(b.stream, b.bits, b.level)
	bzDecPool.Put(d)
	<-bzDecSlots
	if err != nil {
		b.decodeReference()
		return
	}
	b.buf = bzOutPool.Get().(*[]byte)
	b.fill(run, *b.buf)
}

// bzDecSlots bounds the block decoders' tables in use at once, in every
// stream: decoding is CPU-bound, so more of them than there are threads to
// run them would add memory (5 MB each), not speed.
var bzDecSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// bzOutPool holds the blocks' output buffers, bzBlockOut bytes each.
var bzOutPool = sync.Pool{New: func() any { b := make([]byte, bzBlockOut); return &b }}

// decodeReference decodes the block with dsnet/compress: 1.6x the standard
// library's speed on the dlib model (4.1 s against 7.2 s for its 100 MB, one
// core). It judges the blocks the block decoder leaves to it.
func (b *bzBlock) decodeReference() {
	d, err := dbzip2.NewReader(bytes.NewReader(b.stream), nil)
	if err != nil {
		b.out, b.err = nil, err
		return
	}
	b.fill(d, make([]byte, bzBlockOut))
}

// fill reads the block's output from r into out; what does not fit stays in
// r, read when the block is emitted.
func (b *bzBlock) fill(r io.Reader, out []byte) {
	n := 0
	for n < len(out) {
		k, err := r.Read(out[n:])
		n += k
		if err == io.EOF {
			b.out = out[:n]
			return
		}
		if err != nil {
			b.out, b.err = nil, err
			return
		}
	}
	b.out, b.rest = out, r
}

// bzReader is the parallel decoder; see the comment at the top of the file.
type bzReader struct {
	ctx     context.Context
	sc      bzScanner
	pool    chan struct{}
	queue   []*bzBlock // scanned blocks, in order, being or done decoding
	cur     *bzBlock   // the block being emitted
	scanErr error      // the scanner's error (io.EOF at the end), after the queue
	crc     uint32     // combined CRC of the stream's blocks emitted so far
	err     error      // sticky result
	wg      sync.WaitGroup
}

func newParallelBzip2(ctx context.Context, r io.Reader, pool chan struct{}) *bzReader {
	if pool == nil {
		pool = NewPool(0)
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &bzReader{ctx: ctx, sc: bzScanner{in: br}, pool: pool}
}

func (r *bzReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	for {
		if b := r.cur; b != nil {
			if len(b.out) > 0 {
				n := copy(p, b.out)
				b.out = b.out[n:]
				return n, nil
			}
			if b.rest != nil {
				n, err := b.rest.Read(p)
				if err == io.EOF {
					b.rest = nil
				} else if err != nil {
					return r.fail(bzBlockError(err))
				}
				if n > 0 || len(p) == 0 {
					return n, nil
				}
				continue
			}
			if err := r.finish(b); err != nil {
				return r.fail(err)
			}
			continue
		}
		r.fill()
		if len(r.queue) == 0 {
			return r.fail(r.scanErr)
		}
		head := r.queue[0]
		select {
		case <-head.done:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
		r.queue = r.queue[1:]
		if head = r.merge(head); head.err != nil {
			r.release(head)
			return r.fail(bzBlockError(head.err))
		}
		r.cur = head
		r.fill()
	}
}

func (r *bzReader) fail(err error) (int, error) {
	r.err = err
	return 0, err
}

// fill scans blocks and starts their decoding: one without a token, then
// one more per pool token it gets without waiting.
func (r *bzReader) fill() {
	for r.scanErr == nil {
		token := false
		if r.cur != nil || len(r.queue) > 0 {
			select {
			case <-r.pool:
				token = true
			default:
				return
			}
		}
		b, err := r.sc.next()
		if err != nil {
			r.scanErr = err
			if token {
				r.pool <- struct{}{}
			}
			return
		}
		b.token = token
		b.done = make(chan struct{})
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer close(b.done)
			b.decode()
		}()
		r.queue = append(r.queue, b)
	}
}

// finish ends the emission of b: it checks the stream CRC at a stream's end.
func (r *bzReader) finish(b *bzBlock) error {
	r.cur = nil
	r.release(b)
	if b.buf != nil {
		bzOutPool.Put(b.buf)
		b.buf = nil
	}
	r.crc = (r.crc<<1 | r.crc>>31) ^ b.crc
	if b.streamEnd {
		if r.crc != b.streamCRC {
			return bzCorrupt("stream checksum mismatch")
		}
		r.crc = 0
	}
	return nil
}

func (r *bzReader) release(b *bzBlock) {
	if b.token {
		b.token = false
		r.pool <- struct{}{}
	}
}

// merge handles a block that failed to decode and was ended by a block
// magic: the magic may have been data (a 48-bit pattern in the compressed
// bits, about once per 2^47 bit positions), so the block is joined with the
// next one and decoded again, in this goroutine.
func (r *bzReader) merge(a *bzBlock) *bzBlock {
	for a.err != nil && a.split {
		var b *bzBlock
		if len(r.queue) > 0 {
			b = r.queue[0]
			<-b.done
			r.queue = r.queue[1:]
		} else if r.scanErr == nil {
			var err error
			if b, err = r.sc.next(); err != nil {
				r.scanErr = err
				return a
			}
		} else {
			return a
		}
		r.release(b)
		if a.bits+48+b.bits > 8*bzMaxBlock(a.level) {
			return a
		}
		var w bitWriter
		w.buf = append(make([]byte, 0, len(a.stream)+len(b.stream)), a.stream[:bzHead]...)
		w.copyBits(a.stream[bzHead:], a.bits)
		w.write(bzBlockMagic, 48)
		w.copyBits(b.stream[bzHead:], b.bits)
		m := &bzBlock{bits: a.bits + 48 + b.bits, level: a.level, crc: a.crc, split: b.split,
			streamEnd: b.streamEnd, streamCRC: b.streamCRC, token: a.token}
		m.stream = w.finishBlock(m.crc)
		m.decode()
		a = m
	}
	return a
}

// Close waits for the block decoders (each finishes its block, at most
// bzBlockOut bytes of output) and gives back the pool tokens.
func (r *bzReader) Close() error {
	r.wg.Wait()
	if r.cur != nil {
		r.release(r.cur)
	}
	for _, b := range r.queue {
		r.release(b)
	}
	r.cur, r.queue = nil, nil
	if r.err == nil {
		r.err = errClosed
	}
	return nil
}
