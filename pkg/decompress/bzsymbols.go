package decompress

// The block decoder's symbol stage: prefix codes, move-to-front and the
// second run-length stage, from bits to the block before the inverse BWT.

// readSymbols decodes the prefix-coded symbols up to the end of block (eob),
// switching code every bzGroup symbols as sels say, and undoes the
// move-to-front (dict is its alphabet) and the second run-length stage
// (RUNA/RUNB digits, in base 2 with digits 1 and 2, count copies of the front
// byte). It writes the bytes to tt, which is blockMax long, and returns how
// many, with how often each byte value came. The per-symbol loop keeps the
// bit buffer in locals.
func (d *bzDec) readSymbols(r *bzBits, sels []uint8, dict [256]uint8, eob uint16, tt []uint32) (out int, counts [256]int, err error) {
	syms := 0         // symbols decoded, end of block excepted
	run, runK := 0, 0 // a run's value so far, RUNA/RUNB symbols in it
	sel, left := 0, 0 // next selector, symbols left under the current code
	var h *bzHuff
	v, n := r.v, r.n
	for {
		if left == 0 {
			if sel >= len(sels) {
				return 0, counts, errBzFallback
			}
			h = &d.huffs[sels[sel]]
			sel++
			left = bzGroup
		}
		left--
		if n < bzMaxCode {
			v, n = r.reload(v, n)
		}
		e := h.fast[v>>(64-bzLookBits)]
		sym, l := e>>5, uint(e&31) // a code up to bzLookBits long
		if e == 0 {
			if sym, l = h.decodeLong(v); l == 0 {
				return 0, counts, errBzFallback
			}
		}
		v <<= l
		n -= l
		if sym < 2 {
			if syms >= len(tt) || runK > 24 {
				return 0, counts, errBzFallback
			}
			syms++
			run += (int(sym) + 1) << runK
			runK++
			continue
		}
		if runK > 0 {
			if out+run > len(tt) {
				return 0, counts, errBzFallback
			}
			out = bzFill(tt, out, run, dict[0], &counts)
			run, runK = 0, 0
		}
		if sym == eob {
			break
		}
		if syms >= len(tt) || out >= len(tt) {
			return 0, counts, errBzFallback
		}
		syms++
		b := bzMTF(&dict, uint8(sym-1))
		tt[out] = uint32(b)
		counts[b]++
		out++
	}
	r.v, r.n = v, n
	return out, counts, nil
}

// bzFill writes run copies of b to tt from out, which has room, counts them,
// and returns where they end.
func bzFill(tt []uint32, out, run int, b uint8, counts *[256]int) int {
	counts[b] += run
	for i := range tt[out : out+run] {
		tt[out+i] = uint32(b)
	}
	return out + run
}

// bzMTF moves the k-th byte of the move-to-front alphabet dict to its front,
// and returns it.
func bzMTF(dict *[256]uint8, k uint8) uint8 {
	b := dict[k]
	if k < 16 {
		for j := k; j > 0; j-- {
			dict[j] = dict[j-1]
		}
	} else {
		copy(dict[1:int(k)+1], dict[:k])
	}
	dict[0] = b
	return b
}
