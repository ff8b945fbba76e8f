package decompress

// The block decoder's prefix codes: a table for the short codes, canonical
// ranges for the long ones.

// bzHuff is one prefix code: a table for the short codes, canonical ranges
// for the long ones.
type bzHuff struct {
	fast   [1 << bzLookBits]uint16 // symbol<<5 | length, 0 for a longer code
	first  [bzMaxCode + 1]uint32   // first code of each length
	count  [bzMaxCode + 1]uint32   // codes of each length
	offset [bzMaxCode + 1]uint32   // index in sorted of the first code of each length
	sorted [bzMaxSyms]uint16       // symbols by (length, symbol)
	maxLen uint
}

// build sets the code from its lengths (1..20 each); a code that is not
// complete is left to the reference decoder.
func (h *bzHuff) build(lens []uint8) error {
	h.count = [bzMaxCode + 1]uint32{}
	h.maxLen = 0
	kraft := 0
	for _, l := range lens {
		h.count[l]++
		kraft += 1 << (bzMaxCode - l)
		h.maxLen = max(h.maxLen, uint(l))
	}
	if kraft != 1<<bzMaxCode {
		return errBzFallback
	}
	code, idx := uint32(0), uint32(0)
	for l := 1; l <= bzMaxCode; l++ {
		h.first[l], h.offset[l] = code, idx
		code = (code + h.count[l]) << 1
		idx += h.count[l]
	}
	next := h.offset
	for s, l := range lens {
		h.sorted[next[l]] = uint16(s)
		next[l]++
	}
	h.fast = [1 << bzLookBits]uint16{}
	for l := uint(1); l <= bzLookBits && l <= h.maxLen; l++ {
		for k := range h.count[l] {
			s := h.sorted[h.offset[l]+k]
			c := (h.first[l] + k) << (bzLookBits - l)
			e := s<<5 | uint16(l)
			for j := range uint32(1) << (bzLookBits - l) {
				h.fast[c+j] = e
			}
		}
	}
	return nil
}

// decodeLong decodes the code longer than bzLookBits that starts at v's top
// bit, by the canonical ranges; it returns the symbol and the code's length,
// 0 when no code starts so.
func (h *bzHuff) decodeLong(v uint64) (uint16, uint) {
	for l := uint(bzLookBits + 1); l <= h.maxLen; l++ {
		c := uint32(v>>(64-l)) - h.first[l]
		if c < h.count[l] {
			return h.sorted[h.offset[l]+c], l
		}
	}
	return 0, 0
}
