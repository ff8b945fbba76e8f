package decompress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/xi2/xz"
)

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
