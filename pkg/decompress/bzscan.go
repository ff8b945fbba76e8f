package decompress

import (
	"bufio"
	"encoding/binary"
	"io"
	"slices"
)

// The bzip2 scanner: it splits the input into blocks at their 48-bit magics,
// in the goroutine that calls Read, and checks the streams' structure (headers,
// trailers, what follows the last stream).

// bzMayEnd tells which pairs of bytes can come just before the last byte of
// a magic: whatever its bit offset, a magic fixes the two bytes before its
// last one (it spans at least five whole bytes before it), so all but 16 of
// the 65536 pairs rule out a magic ending in the byte that follows them. A
// bit set, indexed by the pair.
var bzMayEnd = func() (t [1 << 13]byte) {
	for k := range 8 {
		for _, m := range []uint64{bzBlockMagic, bzEOSMagic} {
			pair := uint16(m << k >> 8)
			t[pair>>3] |= 1 << (pair & 7)
		}
	}
	return t
}()

// bzScanner splits a bzip2 input into blocks.
type bzScanner struct {
	in      *bufio.Reader
	acc     uint64 // bits read but not used, the oldest at bit nacc-1
	nacc    uint
	streams int  // stream headers read
	level   byte // of the current stream
	inBlock bool // a block magic was read: a block's bits come next
	err     error
}

// next returns the next block, or io.EOF after the last stream.
func (s *bzScanner) next() (*bzBlock, error) {
	if s.err != nil {
		return nil, s.err
	}
	b, err := s.scan()
	if err != nil {
		s.err = err
	}
	return b, err
}

func (s *bzScanner) scan() (*bzBlock, error) {
	for !s.inBlock {
		if err := s.header(); err != nil {
			return nil, err
		}
		m, err := s.bits(48, "a stream header")
		if err != nil {
			return nil, err
		}
		switch m {
		case bzBlockMagic:
			s.inBlock = true
		case bzEOSMagic: // an empty stream
			crc, err := s.bits(32, "a stream trailer")
			if err != nil {
				return nil, err
			}
			if crc != 0 {
				return nil, bzCorrupt("empty stream with checksum %08x", crc)
			}
			s.nacc -= s.nacc % 8
		default:
			return nil, bzCorrupt("no block after stream header %d", s.streams)
		}
	}
	return s.block()
}

// header reads a stream header, or returns io.EOF at the end of the input
// after a stream.
func (s *bzScanner) header() error {
	var h [4]byte
	for i := range h {
		if i == 0 && s.nacc == 0 {
			c, err := s.in.ReadByte()
			if err == io.EOF && s.streams > 0 {
				return io.EOF
			}
			if err == io.EOF {
				return bzTruncated("a stream header")
			}
			if err != nil {
				return err
			}
			h[0] = c
		} else {
			c, err := s.bits(8, "a stream header")
			if err != nil {
				return err
			}
			h[i] = byte(c)
		}
		if !bzHeaderPrefix(h[:i+1]) {
			if s.streams > 0 {
				return bzCorrupt("data after the end of stream %d is not a bzip2 stream", s.streams)
			}
			return bzCorrupt("bad stream header %q", h[:i+1])
		}
	}
	s.level = h[3]
	s.streams++
	return nil
}

func bzHeaderPrefix(h []byte) bool {
	for i, c := range h {
		if i < 3 && c != "BZh"[i] || i == 3 && (c < '1' || c > '9') {
			return false
		}
	}
	return true
}

// bits reads n <= 48 bits; the input ending first is a truncation inside what.
func (s *bzScanner) bits(n uint, what string) (uint64, error) {
	for s.nacc < n {
		c, err := s.in.ReadByte()
		if err == io.EOF {
			return 0, bzTruncated(what)
		}
		if err != nil {
			return 0, err
		}
		s.acc = s.acc<<8 | uint64(c)
		s.nacc += 8
	}
	s.nacc -= n
	return s.acc >> s.nacc & (1<<n - 1), nil
}

// block reads a block's bits up to the next block or end-of-stream magic. It
// works on the input's buffer, a buffer at a time: it looks for the bytes
// in which a magic may end (bzMayEnd), appends the bytes before them to the
// block at once, and looks closer only at those.
func (s *bzScanner) block() (*bzBlock, error) {
	level := s.level
	limit := 8 * bzMaxBlock(level)
	w := bitWriter{buf: make([]byte, bzHead, bzHead+int(level-'0')*100_000+4<<10)}
	copy(w.buf, []byte{'B', 'Z', 'h', level, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59})
	var win uint64    // the last 64 bits of the block
	have := 0         // bits of the block read
	rejected := false // an end-of-stream magic was seen that was not followed by the end or a stream
	// Bits already read come first: they follow the magic.
	if v, n := s.acc&(1<<s.nacc-1), s.nacc; n > 0 {
		s.nacc = 0
		win = v
		w.write(v, n)
		have = int(n)
		b, err := s.cut(&w, win, n, have, &rejected)
		if b != nil || err != nil {
			return b, err
		}
	}
	for {
		if _, err := s.in.Peek(1); err != nil {
			if err != io.EOF {
				return nil, err
			}
			if rejected {
				return nil, bzCorrupt("data after the end of stream %d is not a bzip2 stream", s.streams)
			}
			return nil, bzTruncated("a block")
		}
		buf, _ := s.in.Peek(s.in.Buffered())
		// The byte that takes the block past its limit is the last one looked at.
		buf = buf[:min(len(buf), (limit-have)/8+1)]
		j, found := 0, false
		for ; j < len(buf); j++ {
			win = win<<8 | uint64(buf[j])
			if pair := uint16(win >> 8); bzMayEnd[pair>>3]&(1<<(pair&7)) != 0 {
				j, found = j+1, true
				break
			}
		}
		w.writeBytes(buf[:j])
		have += 8 * j
		if _, err := s.in.Discard(j); err != nil {
			return nil, err
		}
		if found {
			b, err := s.cut(&w, win, 8, have, &rejected)
			if b != nil || err != nil {
				return b, err
			}
		}
		if have > limit {
			return nil, bzCorrupt("block longer than %d bytes", limit/8)
		}
	}
}

// cut looks for a magic ending in the last n bits read, the block's have-th
// bit the last; if one ends the block, it returns the block.
func (s *bzScanner) cut(w *bitWriter, win uint64, n uint, have int, rejected *bool) (*bzBlock, error) {
	for k := int(n) - 1; k >= 0; k-- {
		m := win >> k & (1<<48 - 1)
		if have-k-48 < bzMinBlock || m != bzBlockMagic && m != bzEOSMagic {
			continue
		}
		rest, restBits := win&(1<<k-1), uint(k) // what follows the magic
		b := &bzBlock{bits: have - k - 48, level: s.level}
		if m == bzEOSMagic {
			end, crc, err := s.streamEnd(rest, restBits)
			if err != nil {
				return nil, err
			}
			if !end {
				*rejected = true
				continue
			}
			b.streamEnd, b.streamCRC = true, crc
			s.inBlock = false
		} else {
			b.split = true
			s.acc, s.nacc = rest, restBits
		}
		w.truncate(8*bzHead + b.bits)
		b.crc = binary.BigEndian.Uint32(w.buf[bzHead:])
		b.stream = w.finishBlock(b.crc)
		return b, nil
	}
	return nil, nil
}

// streamEnd tells whether an end-of-stream magic, followed by the k bits
// rest and then the unread input, ends a stream: a 32-bit CRC, padding to a
// byte, then the end of the input or what may start a stream. Otherwise the
// magic was block data, or the stream is followed by garbage; either way
// scanning goes on, and nothing is consumed. When it does end a stream, the
// CRC and padding are consumed and the CRC returned.
func (s *bzScanner) streamEnd(rest uint64, k uint) (bool, uint32, error) {
	need := int(32-k+7) / 8 // bytes that complete the CRC and padding
	ahead, err := s.in.Peek(need + 4)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return false, 0, err
	}
	if len(ahead) < need {
		return false, 0, bzTruncated("a stream trailer")
	}
	crc := rest
	left := 32 - k
	for _, c := range ahead[:need] {
		take := min(left, 8)
		crc = crc<<take | uint64(c)>>(8-take)
		left -= take
	}
	if !bzHeaderPrefix(ahead[need:]) {
		return false, 0, nil
	}
	if _, err := s.in.Discard(need); err != nil {
		return false, 0, err
	}
	return true, uint32(crc), nil
}

// bitWriter appends bits, most significant first.
type bitWriter struct {
	buf []byte
	acc uint64 // the low n bits are pending
	n   uint
}

func (w *bitWriter) write(v uint64, n uint) {
	for n > 0 {
		k := min(n, 32)
		n -= k
		w.acc = w.acc<<k | v>>n&(1<<k-1)
		w.n += k
		for w.n >= 8 {
			w.n -= 8
			w.buf = append(w.buf, byte(w.acc>>w.n))
		}
	}
}

// writeBytes appends whole bytes.
func (w *bitWriter) writeBytes(src []byte) {
	if w.n == 0 {
		w.buf = append(w.buf, src...)
		return
	}
	n := w.n
	acc := byte(w.acc) & (1<<n - 1)
	at := len(w.buf)
	w.buf = slices.Grow(w.buf, len(src))[:at+len(src)]
	dst := w.buf[at:]
	i := 0
	if len(src) >= 8 { // eight bytes at a time
		acc64 := uint64(acc)
		for ; i+8 <= len(src); i += 8 {
			x := binary.BigEndian.Uint64(src[i:])
			binary.BigEndian.PutUint64(dst[i:], acc64<<(64-n)|x>>n)
			acc64 = x & (1<<n - 1)
		}
		acc = byte(acc64)
	}
	for ; i < len(src); i++ {
		c := src[i]
		dst[i] = acc<<(8-n) | c>>n
		acc = c & (1<<n - 1)
	}
	w.acc = uint64(acc)
}

// copyBits appends the first n bits of src.
func (w *bitWriter) copyBits(src []byte, n int) {
	for _, c := range src[:n/8] {
		w.write(uint64(c), 8)
	}
	if r := uint(n % 8); r > 0 {
		w.write(uint64(src[n/8]>>(8-r)), r)
	}
}

// truncate keeps the first bits bits written.
func (w *bitWriter) truncate(bits int) {
	if full := len(w.buf); bits <= 8*full {
		r := uint(bits % 8)
		w.acc, w.n = 0, 0
		if r > 0 {
			w.acc, w.n = uint64(w.buf[bits/8]>>(8-r)), r
		}
		w.buf = w.buf[:bits/8]
		return
	}
	keep := uint(bits - 8*len(w.buf))
	w.acc >>= w.n - keep
	w.n = keep
}

// finishBlock ends a one-block stream: end-of-stream magic, the stream CRC
// (the block's), padding.
func (w *bitWriter) finishBlock(crc uint32) []byte {
	w.write(bzEOSMagic, 48)
	w.write(uint64(crc), 32)
	if w.n > 0 {
		w.buf = append(w.buf, byte(w.acc<<(8-w.n)))
		w.n = 0
	}
	return w.buf
}
