package decompress

// The block decoder's first stages: what comes before the symbols (the
// header, the symbol map, the selectors, the prefix codes' lengths).

// header reads what follows the block magic: the block's CRC (checked once
// its bytes are emitted), the randomized flag, and the origin pointer, where
// the inverse BWT starts. Randomized blocks, which the reference decoder
// refuses, are left to it.
func (r *bzBits) header() (crc uint32, ptr int, err error) {
	crc = r.get(32)
	if r.get(1) != 0 {
		return 0, 0, errBzFallback
	}
	return crc, int(r.get(24)), nil
}

// symbolMap reads which byte values the block uses: 16 bits saying which
// ranges of 16 values have any, then 16 bits for each such range. It returns
// them in increasing order, the move-to-front alphabet's start, and how many
// there are.
func (r *bzBits) symbolMap() (dict [256]uint8, nsym int) {
	hi := r.get(16)
	for i := range 16 {
		if hi&(1<<(15-i)) == 0 {
			continue
		}
		lo := r.get(16)
		for j := range 16 {
			if lo&(1<<(15-j)) != 0 {
				dict[nsym] = uint8(16*i + j)
				nsym++
			}
		}
	}
	return dict, nsym
}

// readSelectors reads which of the ntrees prefix codes each group of bzGroup
// symbols uses: a 15-bit count, then each selector as a move-to-front index
// written in unary.
func (d *bzDec) readSelectors(r *bzBits, ntrees int) ([]uint8, error) {
	nsels := int(r.get(15))
	if cap(d.sels) < nsels {
		d.sels = make([]uint8, nsels)
	}
	sels := d.sels[:nsels]
	var mtf [6]uint8
	for i := range mtf {
		mtf[i] = uint8(i)
	}
	for i := range sels {
		k := 0
		for r.get(1) == 1 {
			k++
			if k >= ntrees {
				return nil, errBzFallback
			}
		}
		t := mtf[k]
		copy(mtf[1:k+1], mtf[:k])
		mtf[0] = t
		sels[i] = t
	}
	return sels, nil
}

// readCodes reads the code lengths of each of the ntrees prefix codes, over
// an alphabet of alpha symbols: a 5-bit start, then for each symbol steps of
// +1 or -1 ended by a 0 bit. It builds each code's tables in d.huffs.
func (d *bzDec) readCodes(r *bzBits, ntrees, alpha int) error {
	var lens [bzMaxSyms]uint8
	for t := range ntrees {
		l := int(r.get(5))
		for s := range alpha {
			for {
				if l < 1 || l > bzMaxCode {
					return errBzFallback
				}
				if r.get(1) == 0 {
					break
				}
				l += 1 - 2*int(r.get(1))
			}
			lens[s] = uint8(l)
		}
		if err := d.huffs[t].build(lens[:alpha]); err != nil {
			return err
		}
	}
	return nil
}
