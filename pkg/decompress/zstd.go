package decompress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

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
