package decompress

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/djok/modelfetch/pkg/decompress/internal/bzip2"
)

// Parallel bzip2. The goroutine that calls Read scans the input for block
// boundaries (the 48-bit block and end-of-stream magics, at any bit offset),
// and hands each block to a goroutine that decodes it (internal/bzip2: Go's
// decoder with faster Huffman tables, from pbzip2); blocks are emitted in
// order, and their CRCs combined are checked against each stream's. The scan is the
// only reader of the input, so nothing reads it behind the caller's back.
//
// Memory is bounded whatever the input: a block holds its compressed bits
// (at most bzMaxBlock), the decoder's tables (4 bytes per block byte,
// 3.6 MB at level 9) and at most bzBlockOut decoded bytes; the rest of a block
// that decodes to more (a block of zeros decodes to 45 MB) is decoded as it is
// emitted. A stream holds one block plus one per pool token it could take.

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

// bzMayEnd tells which bytes can come just before the last byte of a magic:
// whatever its bit offset, a magic fixes the byte before its last one, so
// most bytes rule out a magic ending in the byte that follows them.
var bzMayEnd = func() (t [256]bool) {
	for k := range 8 {
		for _, m := range []uint64{bzBlockMagic, bzEOSMagic} {
			t[byte(m<<k>>8)] = true
		}
	}
	return t
}()

var errClosed = errors.New("decompress: read after close")

func bzCorrupt(format string, a ...any) error {
	return &CorruptError{Format: Bzip2, Err: fmt.Errorf(format, a...)}
}

func bzTruncated(what string) error {
	return fmt.Errorf("bzip2 stream ends inside %s: %w", what, io.ErrUnexpectedEOF)
}

// bzBlock is one block, as scanned and then as decoded.
type bzBlock struct {
	stream    []byte // the block's bits, between a stream header and trailer (see finishBlock)
	bits      int    // the block's own bits (CRC, then data), from byte bzHead of stream
	level     byte   // '1'..'9'
	crc       uint32 // stored block CRC
	split     bool   // a block magic ended this block: the next block continues the stream
	streamEnd bool   // the stream ends after this block
	streamCRC uint32 // stored stream CRC, when streamEnd
	own       bool   // holds the stream's own slot
	token     bool   // holds a pool token

	done chan struct{} // closed when out, rest and err are set
	buf  *[]byte       // the output buffer, from bzOut
	out  []byte        // decoded bytes not yet emitted
	rest io.Reader     // the decoder of the rest of the block, when out filled up
	err  error
}

// bzOut recycles output buffers: a fresh one would be zeroed for each block.
var bzOut = sync.Pool{New: func() any { b := make([]byte, bzBlockOut); return &b }}

// decode decodes the block's first bzBlockOut bytes. The block's bits are
// followed by the 80 bits of an end-of-stream trailer, which the decoder may
// read ahead into.
func (b *bzBlock) decode() {
	defer func() {
		if v := recover(); v != nil {
			b.free()
			b.err = fmt.Errorf("block decoder failed: %v", v)
		}
	}()
	d := bzip2.NewBlockReader(int(b.level-'0')*100_000, b.stream[bzHead:], 0)
	b.buf = bzOut.Get().(*[]byte)
	out := *b.buf
	n := 0
	for n < len(out) {
		k, err := d.Read(out[n:])
		n += k
		if err == io.EOF {
			b.out = out[:n]
			return
		}
		if err != nil {
			b.err = err
			b.free()
			return
		}
	}
	b.out, b.rest = out, d
}

// free recycles the block's output buffer.
func (b *bzBlock) free() {
	if b.buf != nil {
		bzOut.Put(b.buf)
		b.buf, b.out, b.rest = nil, nil, nil
	}
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
	ownBusy bool       // a block holds the stream's own slot
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
					return r.fail(&CorruptError{Format: Bzip2, Err: err})
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
			head.free()
			return r.fail(&CorruptError{Format: Bzip2, Err: head.err})
		}
		r.cur = head
		r.fill()
	}
}

func (r *bzReader) fail(err error) (int, error) {
	r.err = err
	return 0, err
}

// fill scans blocks and starts their decoding: one in the stream's own
// slot, then one more per pool token it gets without waiting.
func (r *bzReader) fill() {
	for r.scanErr == nil {
		own, token := !r.ownBusy, false
		if !own {
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
		b.own, b.token = own, token
		r.ownBusy = r.ownBusy || own
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
	b.free()
	r.crc = (r.crc<<1 | r.crc>>31) ^ b.crc
	if b.streamEnd {
		if r.crc != b.streamCRC {
			return bzCorrupt("stream checksum mismatch")
		}
		r.crc = 0
	}
	return nil
}

// release gives back the block's slot.
func (r *bzReader) release(b *bzBlock) {
	if b.token {
		b.token = false
		r.pool <- struct{}{}
	}
	if b.own {
		b.own = false
		r.ownBusy = false
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
		b.free()
		if a.bits+48+b.bits > 8*bzMaxBlock(a.level) {
			return a
		}
		var w bitWriter
		w.buf = append(make([]byte, 0, len(a.stream)+len(b.stream)), a.stream[:bzHead]...)
		w.copyBits(a.stream[bzHead:], a.bits)
		w.write(bzBlockMagic, 48)
		w.copyBits(b.stream[bzHead:], b.bits)
		m := &bzBlock{bits: a.bits + 48 + b.bits, level: a.level, crc: a.crc, split: b.split,
			streamEnd: b.streamEnd, streamCRC: b.streamCRC, own: a.own, token: a.token}
		m.stream = w.finishBlock(m.crc)
		m.decode()
		a.free()
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
		r.cur.free()
	}
	for _, b := range r.queue {
		r.release(b)
		b.free()
	}
	r.cur, r.queue = nil, nil
	if r.err == nil {
		r.err = errClosed
	}
	return nil
}

// bzScanner splits a bzip2 input into blocks.
type bzScanner struct {
	in      *bufio.Reader
	acc     uint64 // bits read but not used, the oldest at bit nacc-1
	nacc    uint
	streams int  // stream headers read
	level   byte // of the current stream
	inBlock bool // a block magic was read: a block's bits come next
	err     error
}

// next returns the next block, or io.EOF after the last stream.
func (s *bzScanner) next() (*bzBlock, error) {
	if s.err != nil {
		return nil, s.err
	}
	b, err := s.scan()
	if err != nil {
		s.err = err
	}
	return b, err
}

func (s *bzScanner) scan() (*bzBlock, error) {
	for !s.inBlock {
		if err := s.header(); err != nil {
			return nil, err
		}
		m, err := s.bits(48, "a stream header")
		if err != nil {
			return nil, err
		}
		switch m {
		case bzBlockMagic:
			s.inBlock = true
		case bzEOSMagic: // an empty stream
			crc, err := s.bits(32, "a stream trailer")
			if err != nil {
				return nil, err
			}
			if crc != 0 {
				return nil, bzCorrupt("empty stream with checksum %08x", crc)
			}
			s.nacc -= s.nacc % 8
		default:
			return nil, bzCorrupt("no block after stream header %d", s.streams)
		}
	}
	return s.block()
}

// header reads a stream header, or returns io.EOF at the end of the input
// after a stream.
func (s *bzScanner) header() error {
	var h [4]byte
	for i := range h {
		if i == 0 && s.nacc == 0 {
			c, err := s.in.ReadByte()
			if err == io.EOF && s.streams > 0 {
				return io.EOF
			}
			if err == io.EOF {
				return bzTruncated("a stream header")
			}
			if err != nil {
				return err
			}
			h[0] = c
		} else {
			c, err := s.bits(8, "a stream header")
			if err != nil {
				return err
			}
			h[i] = byte(c)
		}
		if !bzHeaderPrefix(h[:i+1]) {
			if s.streams > 0 {
				return bzCorrupt("data after the end of stream %d is not a bzip2 stream", s.streams)
			}
			return bzCorrupt("bad stream header %q", h[:i+1])
		}
	}
	s.level = h[3]
	s.streams++
	return nil
}

func bzHeaderPrefix(h []byte) bool {
	for i, c := range h {
		if i < 3 && c != "BZh"[i] || i == 3 && (c < '1' || c > '9') {
			return false
		}
	}
	return true
}

// bits reads n <= 48 bits; the input ending first is a truncation inside what.
func (s *bzScanner) bits(n uint, what string) (uint64, error) {
	for s.nacc < n {
		c, err := s.in.ReadByte()
		if err == io.EOF {
			return 0, bzTruncated(what)
		}
		if err != nil {
			return 0, err
		}
		s.acc = s.acc<<8 | uint64(c)
		s.nacc += 8
	}
	s.nacc -= n
	return s.acc >> s.nacc & (1<<n - 1), nil
}

// block reads a block's bits up to the next block or end-of-stream magic.
func (s *bzScanner) block() (*bzBlock, error) {
	level := s.level
	limit := 8 * bzMaxBlock(level)
	w := bitWriter{buf: make([]byte, bzHead, bzHead+int(level-'0')*100_000+4<<10)}
	copy(w.buf, []byte{'B', 'Z', 'h', level, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59})
	var win uint64 // the last 64 bits of the block
	have := 0      // bits of the block read
	// Bits already read come first: they follow the magic.
	v, n := s.acc&(1<<s.nacc-1), s.nacc
	s.nacc = 0
	rejected := false // an end-of-stream magic was seen that was not followed by the end or a stream
	for {
		if n == 0 {
			c, err := s.in.ReadByte()
			if err == io.EOF {
				if rejected {
					return nil, bzCorrupt("data after the end of stream %d is not a bzip2 stream", s.streams)
				}
				return nil, bzTruncated("a block")
			}
			if err != nil {
				return nil, err
			}
			v, n = uint64(c), 8
		}
		win = win<<n | v
		w.write(v, n)
		have += int(n)
		if n == 8 && !bzMayEnd[byte(win>>8)] {
			n = 0
			if have > limit {
				return nil, bzCorrupt("block longer than %d bytes", limit/8)
			}
			continue
		}
		for k := int(n) - 1; k >= 0; k-- {
			if have-k-48 < bzMinBlock {
				continue
			}
			m := win >> k & (1<<48 - 1)
			if m != bzBlockMagic && m != bzEOSMagic {
				continue
			}
			rest := uint(k)
			if m == bzEOSMagic {
				end, crc, err := s.streamEnd(win&(1<<rest-1), rest)
				if err != nil {
					return nil, err
				}
				if !end {
					rejected = true
					continue
				}
				bits := have - k - 48
				w.truncate(8*bzHead + bits)
				b := &bzBlock{bits: bits, level: level, crc: binary.BigEndian.Uint32(w.buf[bzHead:]),
					streamEnd: true, streamCRC: crc}
				b.stream = w.finishBlock(b.crc)
				s.inBlock = false
				return b, nil
			}
			bits := have - k - 48
			s.acc, s.nacc = win&(1<<rest-1), rest
			w.truncate(8*bzHead + bits)
			b := &bzBlock{bits: bits, level: level, crc: binary.BigEndian.Uint32(w.buf[bzHead:]), split: true}
			b.stream = w.finishBlock(b.crc)
			return b, nil
		}
		n = 0
		if have > limit {
			return nil, bzCorrupt("block longer than %d bytes", limit/8)
		}
	}
}

// streamEnd tells whether an end-of-stream magic, followed by the k bits
// rest and then the unread input, ends a stream: a 32-bit CRC, padding to a
// byte, then the end of the input or what may start a stream. Otherwise the
// magic was block data, or the stream is followed by garbage; either way
// scanning goes on, and nothing is consumed. When it does end a stream, the
// CRC and padding are consumed and the CRC returned.
func (s *bzScanner) streamEnd(rest uint64, k uint) (bool, uint32, error) {
	need := int(32-k+7) / 8 // bytes that complete the CRC and padding
	ahead, err := s.in.Peek(need + 4)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return false, 0, err
	}
	if len(ahead) < need {
		return false, 0, bzTruncated("a stream trailer")
	}
	crc := rest
	left := 32 - k
	for _, c := range ahead[:need] {
		take := min(left, 8)
		crc = crc<<take | uint64(c)>>(8-take)
		left -= take
	}
	if !bzHeaderPrefix(ahead[need:]) {
		return false, 0, nil
	}
	if _, err := s.in.Discard(need); err != nil {
		return false, 0, err
	}
	return true, uint32(crc), nil
}

// bitWriter appends bits, most significant first.
type bitWriter struct {
	buf []byte
	acc uint64 // the low n bits are pending
	n   uint
}

func (w *bitWriter) write(v uint64, n uint) {
	for n > 0 {
		k := min(n, 32)
		n -= k
		w.acc = w.acc<<k | v>>n&(1<<k-1)
		w.n += k
		for w.n >= 8 {
			w.n -= 8
			w.buf = append(w.buf, byte(w.acc>>w.n))
		}
	}
}

// copyBits appends the first n bits of src.
func (w *bitWriter) copyBits(src []byte, n int) {
	for _, c := range src[:n/8] {
		w.write(uint64(c), 8)
	}
	if r := uint(n % 8); r > 0 {
		w.write(uint64(src[n/8]>>(8-r)), r)
	}
}

// truncate keeps the first bits bits written.
func (w *bitWriter) truncate(bits int) {
	if full := len(w.buf); bits <= 8*full {
		r := uint(bits % 8)
		w.acc, w.n = 0, 0
		if r > 0 {
			w.acc, w.n = uint64(w.buf[bits/8]>>(8-r)), r
		}
		w.buf = w.buf[:bits/8]
		return
	}
	keep := uint(bits - 8*len(w.buf))
	w.acc >>= w.n - keep
	w.n = keep
}

// finishBlock ends a one-block stream: end-of-stream magic, the stream CRC
// (the block's), padding.
func (w *bitWriter) finishBlock(crc uint32) []byte {
	w.write(bzEOSMagic, 48)
	w.write(uint64(crc), 32)
	if w.n > 0 {
		w.buf = append(w.buf, byte(w.acc<<(8-w.n)))
		w.n = 0
	}
	return w.buf
}
