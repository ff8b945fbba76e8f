package decompress

import (
	"errors"
	"hash/crc32"
	"io"
	"math/bits"
	"sync"
)

// The block decoder's last stage: a decoded block emitted through the first
// run-length stage and the CRC check.

// bzRun is a decoded block being emitted: its bytes after the inverse BWT,
// through the first run-length stage and the CRC check.
type bzRun struct {
	raw   *[]byte // from bzRawPool, nil once emitted
	rd    int     // bytes of raw read
	last  byte    // the last byte
	nsame int     // times last was seen in a row, up to 4
	rep   int     // copies of last still to emit
	crc   uint32  // of the bytes emitted, bit-reversed (crc32.IEEE form)
	want  uint32  // stored block CRC
}

var bzRawPool = sync.Pool{New: func() any { return new([]byte) }}

// Read emits the block's bytes: the inverse BWT and the first run-length
// stage. It returns io.EOF after the last, once the block's CRC matched.
func (d *bzRun) Read(p []byte) (int, error) {
	if d.raw == nil {
		return 0, io.EOF
	}
	raw := *d.raw
	rd, last, nsame, rep := d.rd, d.last, d.nsame, d.rep
	i := 0
	for i < len(p) {
		if rep > 0 {
			k := min(rep, len(p)-i)
			for j := range p[i : i+k] {
				p[i+j] = last
			}
			i += k
			rep -= k
			continue
		}
		if rd == len(raw) {
			break
		}
		if nsame == 4 {
			rep, nsame = int(raw[rd]), 0
			rd++
			continue
		}
		// Bytes up to the fourth of a run (the next one is its count) are
		// emitted as they are: find where that is, then copy them at once.
		end := min(len(raw), rd+len(p)-i)
		j := rd
		for j < end {
			b := raw[j]
			j++
			if b != last {
				last, nsame = b, 1
			} else if nsame++; nsame == 4 {
				break
			}
		}
		i += copy(p[i:], raw[rd:j])
		rd = j
	}
	d.rd, d.last, d.nsame, d.rep = rd, last, nsame, rep
	d.crc = bzCRC(d.crc, p[:i])
	if rd < len(raw) || rep > 0 {
		return i, nil
	}
	if nsame == 4 {
		return i, errors.New("missing terminating run-length repeater")
	}
	if bits.Reverse32(d.crc) != d.want {
		return i, errors.New("mismatching block checksum")
	}
	bzRawPool.Put(d.raw)
	d.raw = nil
	return i, io.EOF
}

// bzReverse reverses the bits of a byte.
var bzReverse = func() (t [256]byte) {
	for i := range t {
		t[i] = bits.Reverse8(uint8(i))
	}
	return t
}()

// bzCRC updates a bzip2 CRC (big-endian bit order) kept bit-reversed, so that
// the standard library's accelerated IEEE CRC computes it on bit-reversed
// bytes.
func bzCRC(crc uint32, p []byte) uint32 {
	var buf [512]byte
	for len(p) > 0 {
		k := min(len(p), len(buf))
		for i, c := range p[:k] {
			buf[i] = bzReverse[c]
		}
		crc = crc32.Update(crc, crc32.IEEETable, buf[:k])
		p = p[k:]
	}
	return crc
}
