package decompress

import (
	"encoding/binary"
)

// The block decoder's bit reader.

// bzBits reads bits, most significant first, from buf; past its end it reads
// zeros (the caller checks where decoding ended).
type bzBits struct {
	buf []byte
	i   int    // next byte of buf to load
	v   uint64 // loaded bits, the next at bit 63
	n   uint   // loaded bits
}

func (r *bzBits) refill() {
	if r.i+8 <= len(r.buf) {
		r.v |= binary.BigEndian.Uint64(r.buf[r.i:]) >> r.n
		k := (63 - r.n) >> 3
		r.i += int(k)
		r.n += 8 * k
		return
	}
	for r.n <= 56 {
		var c byte
		if r.i < len(r.buf) {
			c = r.buf[r.i]
		}
		r.i++
		r.v |= uint64(c) << (56 - r.n)
		r.n += 8
	}
}

// get reads n <= 32 bits.
func (r *bzBits) get(n uint) uint32 {
	if r.n < n {
		r.refill()
	}
	x := uint32(r.v >> (64 - n))
	r.v <<= n
	r.n -= n
	return x
}

// reload refills the buffer from v and n, a copy of r.v and r.n that a loop
// keeps in registers, and returns the new copy.
func (r *bzBits) reload(v uint64, n uint) (uint64, uint) {
	r.v, r.n = v, n
	r.refill()
	return r.v, r.n
}

// consumed is how many bits were read.
func (r *bzBits) consumed() int { return 8*r.i - int(r.n) }
