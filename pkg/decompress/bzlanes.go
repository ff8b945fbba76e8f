package decompress

import (
	"slices"
)

// The inverse BWT's walk in pieces, several walked at once.

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
