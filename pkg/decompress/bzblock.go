package decompress

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/bits"
	"slices"
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

var errBzFallback = errors.New("bzip2 block needs the reference decoder")

const (
	bzLookBits = 10 // prefix codes up to this long decode in one table look-up
	bzMaxCode  = 20 // the longest prefix code
	bzMaxSyms  = 258
	bzGroup    = 50 // symbols per prefix-table selector
)

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

// consumed is how many bits were read.
func (r *bzBits) consumed() int { return 8*r.i - int(r.n) }

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

var bzDecPool = sync.Pool{New: func() any { return new(bzDec) }}

// decode decodes the block whose bits start at byte bzHead of stream (a
// one-block stream, as the scanner makes them) and end exactly at bit nbits
// after there, up to the inverse BWT. It returns errBzFallback for anything
// the reference decoder should judge.
func (d *bzDec) decode(stream []byte, nbits int, level byte) (*bzRun, error) {
	if level < '1' || level > '9' || len(stream) < bzHead {
		return nil, errBzFallback
	}
	blockMax := int(level-'0') * 100_000
	r := bzBits{buf: stream, i: bzHead}
	want := r.get(32)
	if r.get(1) != 0 { // randomized: refused by the reference decoder
		return nil, errBzFallback
	}
	ptr := int(r.get(24))

	// The bytes used, in order: the move-to-front alphabet.
	var dict [256]uint8
	nsym := 0
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
	if nsym == 0 {
		return nil, errBzFallback
	}
	alpha := nsym + 2 // RUNA, RUNB, bytes 1..nsym-1 of the alphabet, end of block
	ntrees := int(r.get(3))
	if ntrees < 2 || ntrees > 6 {
		return nil, errBzFallback
	}
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
	var lens [bzMaxSyms]uint8
	for t := range ntrees {
		l := int(r.get(5))
		for s := range alpha {
			for {
				if l < 1 || l > bzMaxCode {
					return nil, errBzFallback
				}
				if r.get(1) == 0 {
					break
				}
				l += 1 - 2*int(r.get(1))
			}
			lens[s] = uint8(l)
		}
		if err := d.huffs[t].build(lens[:alpha]); err != nil {
			return nil, err
		}
	}

	// Prefix symbols, move-to-front and the second run-length stage, into tt.
	if cap(d.tt) < blockMax {
		d.tt = make([]uint32, blockMax)
	}
	tt := d.tt[:blockMax]
	var counts [256]int
	out := 0  // bytes in tt
	syms := 0 // symbols decoded, end of block excepted
	run := 0  // a run's value so far
	runK := 0 // RUNA/RUNB symbols in the run
	sel := 0  // next selector
	left := 0 // symbols left under the current table
	eob := uint16(alpha - 1)
	var h *bzHuff
	v, n := r.v, r.n
	for {
		if left == 0 {
			if sel >= len(sels) {
				return nil, errBzFallback
			}
			h = &d.huffs[sels[sel]]
			sel++
			left = bzGroup
		}
		left--
		if n < bzMaxCode {
			r.v, r.n = v, n
			r.refill()
			v, n = r.v, r.n
		}
		var sym uint16
		if e := h.fast[v>>(64-bzLookBits)]; e != 0 {
			sym = e >> 5
			l := uint(e & 31)
			v <<= l
			n -= l
		} else {
			l := uint(bzLookBits + 1)
			for ; l <= h.maxLen; l++ {
				c := uint32(v>>(64-l)) - h.first[l]
				if c < h.count[l] {
					sym = h.sorted[h.offset[l]+c]
					break
				}
			}
			if l > h.maxLen {
				return nil, errBzFallback
			}
			v <<= l
			n -= l
		}
		if sym == eob {
			break
		}
		if syms >= blockMax {
			return nil, errBzFallback
		}
		syms++
		if sym < 2 {
			if runK > 24 {
				return nil, errBzFallback
			}
			run += (int(sym) + 1) << runK
			runK++
			continue
		}
		if runK > 0 {
			if out+run > blockMax {
				return nil, errBzFallback
			}
			b := dict[0]
			counts[b] += run
			for i := range tt[out : out+run] {
				tt[out+i] = uint32(b)
			}
			out += run
			run, runK = 0, 0
		}
		k := uint8(sym - 1)
		b := dict[k]
		if k < 16 {
			for j := k; j > 0; j-- {
				dict[j] = dict[j-1]
			}
		} else {
			copy(dict[1:int(k)+1], dict[:k])
		}
		dict[0] = b
		if out >= blockMax {
			return nil, errBzFallback
		}
		tt[out] = uint32(b)
		counts[b]++
		out++
	}
	if runK > 0 {
		if out+run > blockMax {
			return nil, errBzFallback
		}
		b := dict[0]
		counts[b] += run
		for i := range tt[out : out+run] {
			tt[out+i] = uint32(b)
		}
		out += run
	}
	r.v, r.n = v, n
	if r.consumed() != 8*bzHead+nbits || ptr >= out {
		return nil, errBzFallback
	}

	// The inverse BWT's links, next to each byte.
	tt = tt[:out]
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
	raw := bzRawPool.Get().(*[]byte)
	if cap(*raw) < blockMax {
		*raw = make([]byte, blockMax)
	}
	*raw = (*raw)[:out]
	if !d.walkLanes(*raw, tt, uint32(ptr)) {
		// A block that repeats a string, or corrupt links: the walk from
		// both ends, with the backward links made from the forward ones.
		if cap(d.lf) < blockMax {
			d.lf = make([]uint32, blockMax)
		}
		lf := d.lf[:out]
		for j, x := range tt {
			i := x >> 8
			lf[i] = uint32(j)<<8 | uint32(uint8(tt[i]))
		}
		if !bzWalk(*raw, tt, lf, uint32(ptr)) {
			bzRawPool.Put(raw)
			return nil, errBzFallback
		}
	}
	return &bzRun{raw: raw, want: want}, nil
}

const (
	bzAnchors = 128     // pieces the walk is cut into
	bzLanes   = 8       // pieces walked at once
	bzChunk   = 4 << 10 // a piece's bytes go to chunks of this size
	bzAnchor  = 1 << 31 // marks an anchor in tt (links take bits 8-27)
)

// walkLanes does the inverse BWT's walk as pieces walked bzLanes at a time,
// so that their cache misses overlap: one piece starts at the block's first
// byte, the others at nodes picked anywhere (anchors); each piece ends
// before the next anchor, and the pieces are put in the order the anchors
// come in the walk. It reports false, with tt as it was, when the walk from
// the first byte does not go through every node (the block repeats a
// string, or the links are corrupt), or the block is too small to cut.
func (d *bzDec) walkLanes(raw []byte, tt []uint32, ptr uint32) bool {
	n := len(raw)
	if n < 1<<16 {
		return false
	}
	first := tt[ptr] >> 8
	anchors := make([]uint32, 0, bzAnchors)
	anchors = append(anchors, first)
	tt[first] |= bzAnchor
	for k := 1; k < bzAnchors; k++ {
		a := uint32(k * n / bzAnchors)
		if tt[a]&bzAnchor == 0 {
			tt[a] |= bzAnchor
			anchors = append(anchors, a)
		}
	}
	slices.Sort(anchors)
	unmark := func() {
		for _, a := range anchors {
			tt[a] &^= bzAnchor
		}
	}
	if cap(d.arena) < n+len(anchors)*bzChunk {
		d.arena = make([]byte, n+len(anchors)*bzChunk)
	}
	arena := d.arena[:cap(d.arena)]
	type piece struct {
		chunks []int32 // chunk indices in arena
		size   int     // bytes
		next   int     // the piece that follows, by anchor index
	}
	pieces := make([]piece, len(anchors))
	nchunks := 0
	type lane struct {
		node     uint32
		piece    int
		w, end   int // write position in arena, end of its chunk
		started  bool
		finished bool
	}
	var lanes [bzLanes]lane
	queued := 0 // anchors handed to lanes
	start := func(l *lane) {
		if queued == len(anchors) {
			l.finished = true
			return
		}
		*l = lane{node: anchors[queued], piece: queued}
		queued++
	}
	for i := range lanes {
		start(&lanes[i])
	}
	active := 0
	for i := range lanes {
		if !lanes[i].finished {
			active++
		}
	}
	for active > 0 {
		for i := range lanes {
			l := &lanes[i]
			if l.finished {
				continue
			}
			x := tt[l.node]
			if x&bzAnchor != 0 && l.started {
				p := &pieces[l.piece]
				if len(p.chunks) > 0 {
					p.size += l.w - int(p.chunks[len(p.chunks)-1])*bzChunk
				}
				a, _ := slices.BinarySearch(anchors, l.node)
				p.next = a
				start(l)
				if l.finished {
					active--
				}
				continue
			}
			if l.w == l.end {
				p := &pieces[l.piece]
				if len(p.chunks) > 0 {
					p.size += bzChunk
				}
				p.chunks = append(p.chunks, int32(nchunks))
				l.w, l.end = nchunks*bzChunk, (nchunks+1)*bzChunk
				nchunks++
			}
			arena[l.w] = byte(x)
			l.w++
			l.started = true
			l.node = x >> 8 & (1<<20 - 1)
		}
	}
	unmark()
	// The pieces in the walk's order, from the first byte's.
	a0, _ := slices.BinarySearch(anchors, first)
	k, total := a0, 0
	for {
		p := pieces[k]
		if total+p.size > n {
			return false
		}
		for j, c := range p.chunks {
			m := min(bzChunk, p.size-j*bzChunk)
			copy(raw[total:], arena[int(c)*bzChunk:int(c)*bzChunk+m])
			total += m
		}
		k = p.next
		if k == a0 {
			break
		}
	}
	return total == n
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
		b := raw[rd]
		rd++
		if nsame == 4 {
			rep, nsame = int(b), 0
			continue
		}
		if b != last {
			last, nsame = b, 1
		} else {
			nsame++
		}
		p[i] = b
		i++
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
