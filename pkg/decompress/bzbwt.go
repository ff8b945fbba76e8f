package decompress

// The block decoder's inverse BWT: the links, and the walk, in pieces
// (bzlanes.go) or from both ends.

// bzLink puts next to each byte of tt (in bits 0-7) the link of the inverse
// BWT (bits 8 up): the bytes sorted, counts giving how often each value
// comes, are the first column of the BWT's matrix, and the i-th byte of a
// value in tt is the i-th of that value there.
func bzLink(tt []uint32, counts *[256]int) {
	var next [256]uint32
	sum := uint32(0)
	for b, c := range counts {
		next[b] = sum
		sum += uint32(c)
	}
	for i, x := range tt {
		b := uint8(x)
		tt[next[b]] |= uint32(i) << 8
		next[b]++
	}
}

// unBWT walks the inverse BWT of the linked tt from the origin pointer ptr
// into a buffer from bzRawPool: in pieces (walkLanes), or, when that cannot,
// from both ends (bzWalk). It reports false when the links are corrupt.
func (d *bzDec) unBWT(tt []uint32, ptr uint32, blockMax int) (*[]byte, bool) {
	raw := bzRawPool.Get().(*[]byte)
	if cap(*raw) < blockMax {
		*raw = make([]byte, blockMax)
	}
	*raw = (*raw)[:len(tt)]
	if d.walkLanes(*raw, tt, ptr) {
		return raw, true
	}
	// A block that repeats a string, or corrupt links: the walk from both
	// ends, with the backward links made from the forward ones.
	if cap(d.lf) < blockMax {
		d.lf = make([]uint32, blockMax)
	}
	lf := d.lf[:len(tt)]
	for j, x := range tt {
		i := x >> 8
		lf[i] = uint32(j)<<8 | uint32(uint8(tt[i]))
	}
	if !bzWalk(*raw, tt, lf, ptr) {
		bzRawPool.Put(raw)
		return nil, false
	}
	return raw, true
}

// bzWalk walks the inverse BWT from both ends at once: the block's first
// byte is at tt[ptr]'s link, its last at ptr. Each walk is a chain of
// dependent look-ups, one cache miss a byte; two chains overlap their misses.
// It reports whether the walks met, as they do unless the links are
// corrupt (they form more than one cycle, and the block is not a repeat).
func bzWalk(raw []byte, tt, lf []uint32, ptr uint32) bool {
	f, q := tt[ptr]>>8, ptr
	lo, hi := 0, len(raw)-1
	last := q
	for lo < hi {
		x, y := tt[f], lf[q]
		raw[lo], raw[hi] = byte(x), byte(y)
		last = q
		f, q = x>>8, y>>8
		lo++
		hi--
	}
	if lo == hi {
		x := tt[f]
		raw[lo] = byte(x)
		return lo == 0 || x>>8 == last
	}
	return f == last
}
