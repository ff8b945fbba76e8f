package decompress

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/xi2/xz"
)

// Where a stream ends. Every decoder reads concatenated streams (members,
// frames) to the end of its input, and tells apart what follows the last
// complete one: nothing (the end), the start of another cut short
// (truncated), or anything else (corrupt: trailing garbage). The decoders
// libraries report the last two alike when the garbage is shorter than a
// stream header, hence this file.

// garbageAfter is the error for bytes after the last complete stream that
// cannot start another.
func garbageAfter(f Format) error {
	return &CorruptError{Format: f, Err: fmt.Errorf("data after the last %v stream is not a %v stream", f, f)}
}

// gzReader decodes gzip members one at a time (gzip reads a *bufio.Reader
// exactly, so the bytes after a member are still there to look at).
type gzReader struct {
	z  *gzip.Reader
	br *bufio.Reader
}

var gzipMagic = []byte{0x1f, 0x8b, 0x08}

func newGzip(r io.Reader) (io.ReadCloser, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	z, err := gzip.NewReader(br)
	if err != nil {
		return nil, wrapCorrupt(Gzip, err)
	}
	z.Multistream(false)
	return &gzReader{z: z, br: br}, nil
}

func (g *gzReader) Read(p []byte) (int, error) {
	for {
		n, err := g.z.Read(p)
		if err != io.EOF {
			return n, err
		}
		head, err := g.br.Peek(len(gzipMagic))
		if len(head) == 0 && err == io.EOF {
			return n, io.EOF
		}
		if err != nil && err != io.EOF {
			return n, err
		}
		if !bytes.HasPrefix(gzipMagic, head) {
			return n, garbageAfter(Gzip)
		}
		if err := g.z.Reset(g.br); err != nil {
			return n, err
		}
		g.z.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

func (g *gzReader) Close() error { return g.z.Close() }

// zstdReader decodes in the caller's goroutine (concurrency 1: no goroutine
// reads the input) with the window capped, and follows the frame structure
// of the bytes the decoder reads (it reads exactly what it needs), to know
// whether an unexpected end fell inside a frame or after the last one.
type zstdReader struct {
	d      *zstd.Decoder
	frames *zstdFrames
	max    int
}

func newZstd(r io.Reader, maxWindow int) (io.ReadCloser, error) {
	frames := &zstdFrames{r: r, want: 4}
	d, err := zstd.NewReader(frames, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(uint64(maxWindow)), zstd.WithDecoderMaxMemory(uint64(maxWindow)))
	if err != nil {
		return nil, wrapCorrupt(Zstd, err)
	}
	return &zstdReader{d: d, frames: frames, max: maxWindow}, nil
}

func (z *zstdReader) Read(p []byte) (int, error) {
	n, err := z.d.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded):
		err = &CorruptError{Format: Zstd, Err: fmt.Errorf("frame window larger than the %d KiB limit: %w", z.max>>10, err)}
	case IsTruncated(err) && z.frames.afterFrame():
		err = garbageAfter(Zstd)
	}
	return n, err
}

func (z *zstdReader) Close() error {
	z.d.Close()
	return nil
}

// zstdFrames passes reads through and parses the zstd frame structure of
// what it passes: magic, frame header, block headers (which hold the block
// sizes), checksum; skippable frames.
type zstdFrames struct {
	r    io.Reader
	hdr  [8]byte // bytes of a field being collected
	got  int     // of want
	want int     // bytes of the field being collected; 0 while skipping
	skip int64   // bytes to pass over
	next func()  // what comes after the skip
	stat int     // what is being collected: zMagic, ...
	bad  bool    // not zstd any more: stop following
	sum  bool    // the frame ends with a checksum
}

const (
	zMagic = iota
	zSkipSize
	zFHD
	zBlock
)

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

func (t *zstdFrames) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.feed(p[:n])
	return n, err
}

// afterFrame tells whether the bytes read so far end with whole frames and
// then fewer than four bytes that cannot start a frame.
func (t *zstdFrames) afterFrame() bool {
	if t.bad || t.stat != zMagic || t.want == 0 || t.got == 0 {
		return false
	}
	h := t.hdr[:t.got]
	skippable := h[0]&0xf0 == 0x50 && bytes.HasPrefix([]byte{0x2a, 0x4d, 0x18}, h[1:])
	return !bytes.HasPrefix(zstdMagic, h) && !skippable
}

func (t *zstdFrames) feed(p []byte) {
	for len(p) > 0 && !t.bad {
		if t.want == 0 {
			k := int(min(t.skip, int64(len(p))))
			t.skip -= int64(k)
			p = p[k:]
			if t.skip == 0 {
				t.next()
			}
			continue
		}
		k := copy(t.hdr[t.got:t.want], p)
		t.got += k
		p = p[k:]
		if t.got == t.want {
			t.field()
		}
	}
}

func (t *zstdFrames) collect(stat, n int) { t.stat, t.want, t.got = stat, n, 0 }

func (t *zstdFrames) pass(n int64, next func()) {
	t.want, t.skip, t.next = 0, n, next
	if n == 0 {
		next()
	}
}

func (t *zstdFrames) frameEnd() { t.collect(zMagic, 4) }
func (t *zstdFrames) blockEnd() { t.collect(zBlock, 3) }

// field handles a collected field.
func (t *zstdFrames) field() {
	h := t.hdr[:t.got]
	switch t.stat {
	case zMagic:
		switch {
		case bytes.Equal(h, zstdMagic):
			t.collect(zFHD, 1)
		case h[0]&0xf0 == 0x50 && bytes.Equal(h[1:], []byte{0x2a, 0x4d, 0x18}):
			t.collect(zSkipSize, 4)
		default:
			t.bad = true
		}
	case zSkipSize:
		t.pass(int64(binary.LittleEndian.Uint32(h)), t.frameEnd)
	case zFHD:
		fhd := h[0]
		single := fhd>>5&1 == 1
		t.sum = fhd>>2&1 == 1
		n := [4]int64{0, 1, 2, 4}[fhd&3] + [4]int64{0, 2, 4, 8}[fhd>>6]
		if single && fhd>>6 == 0 {
			n++
		}
		if !single {
			n++
		}
		t.pass(n, t.blockEnd)
	case zBlock:
		v := uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16
		last, typ, size := v&1 == 1, v>>1&3, int64(v>>3)
		after := t.blockEnd
		if last {
			after = t.frameEnd
			if t.sum {
				after = func() { t.pass(4, t.frameEnd) }
			}
		}
		switch typ {
		case 0, 2: // raw, compressed
			t.pass(size, after)
		case 1: // RLE
			t.pass(1, after)
		default:
			t.bad = true
		}
	}
}

// xzReader decodes with xi2/xz, which refuses a dictionary over its cap
// before allocating it (ulikunitz/xz's DictCap is a floor, not a cap).
type xzReader struct {
	z    *xz.Reader
	tail *tailReader
	max  int
}

func newXz(r io.Reader, maxWindow int) (io.ReadCloser, error) {
	tail := &tailReader{r: r}
	z, err := xz.NewReader(tail, uint32(maxWindow))
	x := &xzReader{z: z, tail: tail, max: maxWindow}
	if err != nil {
		return nil, wrapCorrupt(Xz, x.error(err))
	}
	return x, nil
}

func (x *xzReader) Read(p []byte) (int, error) {
	n, err := x.z.Read(p)
	if err != nil && err != io.EOF {
		err = x.error(err)
	}
	return n, err
}

func (x *xzReader) Close() error { return nil }

// error names the dictionary cap, and sorts "cannot make progress" (the
// input ended inside a stream): while a stream header is being read after
// another stream, the last bytes tell a cut header from garbage.
func (x *xzReader) error(err error) error {
	switch err {
	case xz.ErrMemlimit:
		return &CorruptError{Format: Xz, Err: fmt.Errorf("dictionary larger than the %d KiB limit", x.max>>10)}
	case xz.ErrBuf:
		if x.z != nil && x.z.CheckType < 0 && !x.tail.endsInXzHeader() {
			return garbageAfter(Xz)
		}
		return fmt.Errorf("xz stream ends early: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// tailReader keeps the last bytes read through it.
type tailReader struct {
	r    io.Reader
	last []byte
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.last = append(t.last, p[max(0, n-16):n]...)
	if len(t.last) > 64 {
		t.last = append(t.last[:0], t.last[len(t.last)-16:]...)
	}
	return n, err
}

// endsInXzHeader tells whether the input ends with the start of an xz
// stream header (magic, flags, their CRC32).
func (t *tailReader) endsInXzHeader() bool {
	tail := t.last[max(0, len(t.last)-11):]
	for i := range tail {
		if xzHeaderPrefix(tail[i:]) {
			return true
		}
	}
	return false
}

func xzHeaderPrefix(h []byte) bool {
	magic := []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	if !bytes.HasPrefix(magic, h[:min(len(h), 6)]) {
		return false
	}
	if len(h) > 6 && h[6] != 0 || len(h) > 7 && h[7] > 0x0f {
		return false
	}
	if len(h) > 8 {
		var sum [4]byte
		binary.LittleEndian.PutUint32(sum[:], crc32.ChecksumIEEE(h[6:8]))
		return bytes.HasPrefix(sum[:], h[8:])
	}
	return true
}
