package decompress

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testutil"
)

// refScanner is the scanner as it was before it searched the input's buffer
// a buffer at a time: bit by bit, a byte at a time through the bit writer.
// It is the reference the scanner is compared with: same blocks, same
// errors, whatever the input.
type refScanner struct{ *bzScanner }

var refMayEnd = func() (t [256]bool) {
	for k := range 8 {
		for _, m := range []uint64{bzBlockMagic, bzEOSMagic} {
			t[byte(m<<k>>8)] = true
		}
	}
	return t
}()

func (s refScanner) next() (*bzBlock, error) {
	if s.err != nil {
		return nil, s.err
	}
	b, err := s.scan()
	if err != nil {
		s.err = err
	}
	return b, err
}

func (s refScanner) scan() (*bzBlock, error) {
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
		case bzEOSMagic:
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

func (s refScanner) block() (*bzBlock, error) {
	level := s.level
	limit := 8 * bzMaxBlock(level)
	w := bitWriter{buf: make([]byte, bzHead, bzHead+int(level-'0')*100_000+4<<10)}
	copy(w.buf, []byte{'B', 'Z', 'h', level, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59})
	var win uint64
	have := 0
	v, n := s.acc&(1<<s.nacc-1), s.nacc
	s.nacc = 0
	rejected := false
	for {
		if n == 0 {
			c, err := s.in.ReadByte()
			if err == io.EOF {
				if rejected {
					return nil, bzCorrupt("data after the end of stream %d is not a bzip2 stream", s.streams)
				}
				return nil, bzTruncated("a block")
			}
			if err != nil {
				return nil, err
			}
			v, n = uint64(c), 8
		}
		win = win<<n | v
		w.write(v, n)
		have += int(n)
		if n < 8 || refMayEnd[byte(win>>8)] {
			b, err := s.cut(&w, win, n, have, &rejected)
			if b != nil || err != nil {
				return b, err
			}
		}
		n = 0
		if have > limit {
			return nil, bzCorrupt("block longer than %d bytes", limit/8)
		}
	}
}

// scanAll lists what a scanner finds: each block's fields, then the error
// that ended the scan.
func scanAll(in []byte, reference bool, bufSize int) []string {
	sc := &bzScanner{in: bufio.NewReaderSize(bytes.NewReader(in), bufSize)}
	next := sc.next
	if reference {
		next = refScanner{sc}.next
	}
	var out []string
	for {
		b, err := next()
		if err != nil {
			return append(out, err.Error())
		}
		out = append(out, string(b.stream)+string(binary.BigEndian.AppendUint64(nil, uint64(b.bits)))+
			string([]byte{b.level, bzFlag(b.split), bzFlag(b.streamEnd)})+
			string(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, b.crc), b.streamCRC)))
	}
}

func bzFlag(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// The scanner finds the blocks the bit-level scanner found, and fails where
// it failed, the same way: on bzip2's streams, concatenated streams, magics
// at every bit offset inside blocks, truncations, damage and garbage.
func TestBzip2ScannerMatchesReference(t *testing.T) {
	inputs := blockInputs()
	streams := [][]byte{
		testutil.Bzip2(t, inputs["letters"], 1),
		testutil.Bzip2(t, inputs["random"][:150_000], 1),
		testutil.Bzip2(t, inputs["runs"], 2),
		testutil.Bzip2(t, inputs["one"], 9),
		testutil.Bzip2(t, nil, 9), // an empty stream
	}
	for _, f := range bzFixtures { // streams as bzip2 makes them
		streams = append(streams, readFixture(t, f.name))
	}
	streams = append(streams, append(append([]byte{}, streams[0]...), streams[3]...))
	for pad := range 8 { // a magic at each bit offset, after the first block's data
		for _, m := range []uint64{bzBlockMagic, bzEOSMagic} {
			junk := append(append(randomBits(5+pad, uint64(pad)), bitsOfValue(m, 48)...), randomBits(41, 9)...)
			streams = append(streams, withJunkAfterFirstBlock(t, streams[0], junk))
		}
	}
	r := rand.New(rand.NewPCG(3, 3))
	var cases [][]byte
	for _, s := range streams {
		cases = append(cases, s, append(append([]byte{}, s...), "BZh9garbage"...), append(append([]byte{}, s...), 0))
		for range 6 {
			cases = append(cases, s[:r.IntN(len(s)+1)])
			d := append([]byte{}, s...)
			for range 1 + r.IntN(4) {
				at := r.IntN(len(d))
				d[at] ^= byte(1 + r.IntN(255))
			}
			cases = append(cases, d)
		}
	}
	for range 20 { // garbage after a valid header
		g := make([]byte, 1+r.IntN(3000))
		for i := range g {
			g[i] = byte(r.Uint32())
		}
		cases = append(cases, append([]byte("BZh9\x31\x41\x59\x26\x53\x59"), g...))
	}
	// A magic that ends just before or after the bits a block may have.
	limit := 8 * bzMaxBlock('1')
	for delta := -12; delta <= 20; delta += 4 {
		bits := append(append(bitsOf([]byte("BZh1\x31\x41\x59\x26\x53\x59")), randomBits(limit-48+delta, 7)...), bitsOfValue(bzEOSMagic, 48)...)
		cases = append(cases, packBits(append(bits, randomBits(32, 8)...)))
	}
	for i, c := range cases {
		want := scanAll(c, true, 4096)
		for _, size := range []int{16, 4096} { // buffers that end anywhere
			got := scanAll(c, false, size)
			require.Equal(t, len(want), len(got), "case %d: blocks", i)
			for j := range want {
				require.True(t, want[j] == got[j], "case %d, block %d: %q against %q", i, j, truncate(got[j]), truncate(want[j]))
			}
		}
	}
}

func truncate(s string) string { return s[:min(len(s), 60)] }

// A magic inside a block, at each of the eight bit offsets: the output is
// never wrong, never hangs, and the stream is corrupt (a block magic makes
// a block of junk) or decodes (an end-of-stream magic is taken as data).
func TestBzip2MagicAtEachBitOffset(t *testing.T) {
	data := payload(250_000, 51)
	c := compress(t, Bzip2, data)
	first := scanBlocks(t, c)[0]
	offsets := map[int]bool{}
	for pad := range 8 {
		for _, m := range []uint64{bzBlockMagic, bzEOSMagic} {
			junk := append(append(randomBits(5+pad, uint64(pad)), bitsOfValue(m, 48)...), randomBits(41, 9)...)
			in := withJunkAfterFirstBlock(t, c, junk)
			offsets[(32+48+first.bits+5+pad)%8] = true
			got, err := decodeAll(t, Bzip2, in)
			if err != nil {
				assert.True(t, IsCorrupt(err), "%v", err)
			} else {
				assert.True(t, bytes.Equal(data, got))
			}
			if m == bzBlockMagic {
				assert.True(t, IsCorrupt(err), "offset %d: %v", pad, err)
			}
		}
	}
	assert.Len(t, offsets, 8)
}
