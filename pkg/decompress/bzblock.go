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

// reload refills the buffer from v and n, a copy of r.v and r.n that a loop
// keeps in registers, and returns the new copy.
func (r *bzBits) reload(v uint64, n uint) (uint64, uint) {
	r.v, r.n = v, n
	r.refill()
	return r.v, r.n
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
	w := bzPieces{anchors: bzMarkAnchors(tt, first, n)}
	if cap(d.arena) < n+len(w.anchors)*bzChunk {
		d.arena = make([]byte, n+len(w.anchors)*bzChunk)
	}
	arena := d.arena[:cap(d.arena)]
	w.pieces = make([]bzPiece, len(w.anchors))
	w.walk(arena, tt)
	for _, a := range w.anchors {
		tt[a] &^= bzAnchor
	}
	return w.join(raw, arena, first)
}

// bzMarkAnchors picks where the walk's pieces start: the block's first byte
// (at node first), and bzAnchors-1 nodes spread over the block's n. It marks
// them in tt with bzAnchor and returns them sorted.
func bzMarkAnchors(tt []uint32, first uint32, n int) []uint32 {
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
	return anchors
}

// bzPiece is the walk from one anchor to the next, stored in arena chunks.
type bzPiece struct {
	chunks []int32 // chunk indices in arena
	size   int     // bytes
	next   int     // the piece that follows, by anchor index
}

// bzLane is a piece being walked.
type bzLane struct {
	node     uint32
	piece    int
	w, end   int // write position in arena, end of its chunk
	started  bool
	finished bool
}

// bzPieces is the walk in pieces: one per anchor, by anchor index.
type bzPieces struct {
	anchors []uint32 // sorted
	pieces  []bzPiece
	nchunks int // arena chunks handed out
	queued  int // anchors handed to lanes
}

// walk walks every piece, bzLanes at a time, into arena's chunks. The
// per-byte loop only reads tt and writes arena; a piece's end and a full
// chunk, once per piece or per bzChunk bytes, are handled out of line.
func (w *bzPieces) walk(arena []byte, tt []uint32) {
	var lanes [bzLanes]bzLane
	active := 0
	for i := range lanes {
		w.start(&lanes[i])
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
				if !w.end(l) {
					active--
				}
				continue
			}
			if l.w == l.end {
				w.grow(l)
			}
			arena[l.w] = byte(x)
			l.w++
			l.started = true
			l.node = x >> 8 & (1<<20 - 1)
		}
	}
}

// start gives lane l the next anchor's piece, or marks l finished when
// every anchor has been handed out.
func (w *bzPieces) start(l *bzLane) {
	if w.queued == len(w.anchors) {
		l.finished = true
		return
	}
	*l = bzLane{node: w.anchors[w.queued], piece: w.queued}
	w.queued++
}

// end closes lane l's piece, which reached the anchor at l.node, and starts
// the lane's next piece. It reports whether there was one.
func (w *bzPieces) end(l *bzLane) bool {
	p := &w.pieces[l.piece]
	if len(p.chunks) > 0 {
		p.size += l.w - int(p.chunks[len(p.chunks)-1])*bzChunk
	}
	p.next, _ = slices.BinarySearch(w.anchors, l.node)
	w.start(l)
	return !l.finished
}

// grow gives lane l a new arena chunk, its piece's last being full (or the
// piece having none yet).
func (w *bzPieces) grow(l *bzLane) {
	p := &w.pieces[l.piece]
	if len(p.chunks) > 0 {
		p.size += bzChunk
	}
	p.chunks = append(p.chunks, int32(w.nchunks))
	l.w, l.end = w.nchunks*bzChunk, (w.nchunks+1)*bzChunk
	w.nchunks++
}

// join copies the pieces from arena to raw in the walk's order, from the
// piece of the block's first byte (at node first) round to it again. It
// reports whether they made up raw exactly, as they do when the walk from
// the first byte goes through every node.
func (w *bzPieces) join(raw, arena []byte, first uint32) bool {
	a0, _ := slices.BinarySearch(w.anchors, first)
	k, total := a0, 0
	for {
		p := w.pieces[k]
		if total+p.size > len(raw) {
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
	return total == len(raw)
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
