package decompress

import (
	"errors"
	"sync"
)

// The block decoder: one bzip2 block, from its bits (as the scanner cut
// them) to its bytes. It is dsnet/compress's algorithm made faster where the
// time goes on model weights. The inverse BWT's walk, a chain of dependent
// look-ups (one cache miss a byte, most of the time), is cut in pieces
// walked eight at a time, so that their misses overlap (walkLanes); each
// byte and the link to the next one share a uint32, as in C's bzip2 and
// lbzip2. Prefix codes decode through a table, and the tables live as long
// as a pooled decoder instead of one set per block.
//
// It accepts a block only when dsnet/compress would: it checks the same
// things, and where it finds something unusual before any output (a bad
// field, a degenerate prefix code that dsnet decodes its own way), it
// says so with errBzFallback and the block is decoded again by dsnet/compress,
// whose verdict and message stand. CRC and run-length errors, found while
// emitting, are reported as dsnet reports them.
//
// One file per stage, in the block's order: bztables.go (header, symbol
// map, selectors, code lengths; bzhuff.go builds the codes), bzsymbols.go
// (prefix codes, move-to-front, the second run-length stage), bzbwt.go and
// bzlanes.go (the inverse BWT), bzrun.go (the first run-length stage and the
// CRC, as the block is read); bzbits.go reads the bits. decode, below, runs
// the stages.

var errBzFallback = errors.New("bzip2 block needs the reference decoder")

const (
	bzLookBits = 10 // prefix codes up to this long decode in one table look-up
	bzMaxCode  = 20 // the longest prefix code
	bzMaxSyms  = 258
	bzGroup    = 50 // symbols per prefix-table selector
)

// bzDec holds a block decoder's tables, 5 MB at level 9 (8.6 MB once a
// block repeated a string): decoders are pooled, and a block holds one only
// while it is decoded, not while it waits to be emitted.
type bzDec struct {
	tt    []uint32 // the block before the inverse BWT: byte, then link<<8
	lf    []uint32 // the inverse of tt's links: byte, then link<<8
	arena []byte   // the walk's pieces
	sels  []uint8
	huffs [6]bzHuff
}

var bzDecPool = sync.Pool{New: func() any { return new(bzDec) }}

// decode decodes the block whose bits start at byte bzHead of stream (a
// one-block stream, as the scanner makes them) and end exactly at bit nbits
// after there, up to the inverse BWT. It returns errBzFallback for anything
// the reference decoder should judge. The stages come in the block's order.
func (d *bzDec) decode(stream []byte, nbits int, level byte) (*bzRun, error) {
	if level < '1' || level > '9' || len(stream) < bzHead {
		return nil, errBzFallback
	}
	blockMax := int(level-'0') * 100_000
	r := bzBits{buf: stream, i: bzHead}
	want, ptr, err := r.header()
	if err != nil {
		return nil, err
	}
	dict, nsym := r.symbolMap()
	if nsym == 0 {
		return nil, errBzFallback
	}
	alpha := nsym + 2 // RUNA, RUNB, bytes 1..nsym-1 of the alphabet, end of block
	ntrees := int(r.get(3))
	if ntrees < 2 || ntrees > 6 {
		return nil, errBzFallback
	}
	sels, err := d.readSelectors(&r, ntrees)
	if err != nil {
		return nil, err
	}
	if err := d.readCodes(&r, ntrees, alpha); err != nil {
		return nil, err
	}
	if cap(d.tt) < blockMax {
		d.tt = make([]uint32, blockMax)
	}
	out, counts, err := d.readSymbols(&r, sels, dict, uint16(alpha-1), d.tt[:blockMax])
	if err != nil {
		return nil, err
	}
	if r.consumed() != 8*bzHead+nbits || ptr >= out {
		return nil, errBzFallback
	}
	tt := d.tt[:out]
	bzLink(tt, &counts)
	raw, ok := d.unBWT(tt, uint32(ptr), blockMax)
	if !ok {
		return nil, errBzFallback
	}
	return &bzRun{raw: raw, want: want}, nil
}
