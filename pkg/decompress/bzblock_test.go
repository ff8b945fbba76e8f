package decompress

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testutil"
)

// scanBlocks cuts a bzip2 stream into blocks with the scanner.
func scanBlocks(t testing.TB, c []byte) []*bzBlock {
	t.Helper()
	sc := bzScanner{in: bufio.NewReader(bytes.NewReader(c))}
	var blocks []*bzBlock
	for {
		b, err := sc.next()
		if err == io.EOF {
			return blocks
		}
		require.NoError(t, err)
		blocks = append(blocks, b)
	}
}

// decodeBlock decodes a whole block as the parallel reader does (the block
// decoder, falling back to dsnet/compress), or with dsnet/compress alone.
func decodeBlock(b *bzBlock, reference bool) ([]byte, error) {
	c := &bzBlock{stream: b.stream, bits: b.bits, level: b.level, crc: b.crc}
	if reference {
		c.decodeReference()
	} else {
		c.decode()
	}
	if c.err != nil {
		return nil, c.err
	}
	out := append([]byte{}, c.out...)
	if c.rest != nil {
		rest, err := io.ReadAll(c.rest)
		out = append(out, rest...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// bzEncoders make the tests' bzip2 streams: dsnet/compress's encoder, in
// Go, on any machine, and the bzip2 program, which lays out its blocks its
// own way (prefix tables fitted to the data), skipped without it outside CI.
var bzEncoders = []struct {
	name string
	enc  func(t testing.TB, data []byte, level int) []byte
}{
	{"go", testutil.Bzip2},
	{"bzip2", testutil.Bzip2Program},
}

// blockInputs are data that reach every path of the block decoder: all 256
// byte values (move-to-front indices past 16 and up to 255), long runs (the
// first run-length stage's counts, up to 255, and the second's RUNA/RUNB
// runs), runs of exactly 4, a block of one byte value, the model-like floats,
// a block that repeats a string (its inverse BWT is several cycles).
func blockInputs() map[string][]byte {
	r := rand.New(rand.NewPCG(5, 5))
	random := make([]byte, 300_000)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	var runs []byte
	for len(runs) < 400_000 {
		runs = append(runs, bytes.Repeat([]byte{byte(r.IntN(256))}, 1+r.IntN(300))...)
	}
	var fours []byte
	for len(fours) < 200_000 {
		fours = append(fours, bytes.Repeat([]byte{byte(r.IntN(3))}, 4)...)
	}
	return map[string][]byte{
		"random":  random,
		"runs":    runs,
		"fours":   fours,
		"zeros":   make([]byte, 1_000_000), // one block decoding to more than bzBlockOut
		"one":     {7},
		"floats":  floats(1_000_000, 9),
		"letters": payload(300_000, 3),
		"repeat":  bytes.Repeat(random[:1000], 300),
	}
}

// blockInput is one of blockInputs, by name: a name that is not there fails
// the test rather than giving it nothing to check.
func blockInput(t testing.TB, name string) []byte {
	t.Helper()
	data, ok := blockInputs()[name]
	require.True(t, ok, "no block input %q", name)
	return data
}

// The block decoder gives the bytes dsnet/compress gives, for every block of
// streams made at levels 1 and 9 by both encoders and of the fixtures that
// bzip2 made, without falling back.
func TestBzip2BlockDecoderMatchesReference(t *testing.T) {
	for _, e := range bzEncoders {
		t.Run(e.name, func(t *testing.T) {
			if e.name == "bzip2" {
				testutil.Tool(t, "bzip2") // once, not for every input
			}
			for name, data := range blockInputs() {
				for _, level := range []int{1, 9} {
					t.Run(fmt.Sprintf("%s/%d", name, level), func(t *testing.T) {
						assert.True(t, bytes.Equal(data, decodeOwnBlocks(t, e.enc(t, data, level))))
					})
				}
			}
		})
	}
	for _, f := range bzFixtures {
		if f.err == "" {
			t.Run(f.name, func(t *testing.T) { decodeOwnBlocks(t, readFixture(t, f.name)) })
		}
	}
}

// decodeOwnBlocks decodes each block of the bzip2 stream c with the block
// decoder, checks that it did not leave the block to the reference and that
// the reference decodes it alike, and returns the blocks' bytes.
func decodeOwnBlocks(t *testing.T, c []byte) []byte {
	t.Helper()
	var got []byte
	for _, b := range scanBlocks(t, c) {
		_, err := new(bzDec).decode(b.stream, b.bits, b.level)
		require.NoError(t, err, "the block decoder left a valid block to the reference")
		out, err := decodeBlock(b, false)
		require.NoError(t, err)
		want, err := decodeBlock(b, true)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, out), "block decodes differently")
		got = append(got, out...)
	}
	return got
}

// A damaged block is refused by the block decoder exactly when the
// reference refuses it, and otherwise decodes to the same bytes.
func TestBzip2BlockDecoderDamage(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, name := range []string{"random", "runs", "fours", "letters", "floats", "multistream.bz2"} {
		var c []byte
		if name == "multistream.bz2" { // blocks as bzip2 makes them
			c = readFixture(t, name)
		} else {
			data := blockInput(t, name)
			c = testutil.Bzip2(t, data[:min(len(data), 150_000)], 2)
		}
		blocks := scanBlocks(t, c)
		for range 25 {
			d := damage(r, blocks[r.IntN(len(blocks))])
			want, werr := decodeBlock(d, true)
			got, gerr := decodeBlock(d, false)
			require.Equal(t, werr == nil, gerr == nil, "%s: reference %v, block decoder %v", name, werr, gerr)
			if werr == nil {
				require.True(t, bytes.Equal(want, got), "%s: damaged block decodes differently", name)
			}
		}
	}
}

// damage returns a copy of b with a bit flipped, bytes overwritten or a
// wrong length.
func damage(r *rand.Rand, b *bzBlock) *bzBlock {
	s := append([]byte{}, b.stream...)
	bits := b.bits
	switch r.IntN(3) {
	case 0: // a flipped bit, mostly in the header and tables
		at := 8*bzHead + min(r.IntN(2000), b.bits-1)
		if r.IntN(2) == 0 {
			at = 8*bzHead + r.IntN(b.bits)
		}
		s[at/8] ^= 0x80 >> (at % 8)
	case 1: // bytes overwritten
		at := bzHead + r.IntN(len(s)-bzHead)
		for i := at; i < min(len(s), at+1+r.IntN(8)); i++ {
			s[i] = byte(r.Uint32())
		}
	case 2: // a wrong length
		bits += r.IntN(40) - 20
		bits = max(bits, 0)
	}
	return &bzBlock{stream: s, bits: bits, level: b.level, crc: b.crc}
}

// The two walks of the inverse BWT meet when the links form one cycle, or
// several copies of one (a block that repeats a string); otherwise the links
// are corrupt and the walk says so, for the reference decoder to judge.
func TestBzip2WalkMeets(t *testing.T) {
	// links builds tt and lf from a block's last BWT column.
	links := func(l string) ([]uint32, []uint32) {
		tt, lf := make([]uint32, len(l)), make([]uint32, len(l))
		var next [256]uint32
		for _, c := range []byte(l) {
			for b := int(c) + 1; b < 256; b++ {
				next[b]++
			}
		}
		for i, c := range []byte(l) {
			tt[i] |= uint32(c)
			j := next[c]
			tt[j] |= uint32(i) << 8
			lf[i] = j<<8 | uint32(c)
			next[c]++
		}
		return tt, lf
	}
	for _, c := range []struct {
		last string // BWT of the block
		ptr  uint32
		want string
	}{
		{"annb$aa", 4, "banana$"}, // BWT of "banana$"
		{"bbaa", 1, "abab"},       // two copies of "ab"
		{"x", 0, "x"},
	} {
		tt, lf := links(c.last)
		raw := make([]byte, len(c.last))
		require.True(t, bzWalk(raw, tt, lf, c.ptr), c.want)
		assert.Equal(t, c.want, string(raw))
	}
	// "ab" + "c": links with two cycles of different lengths.
	tt, lf := links("bac")
	tt[0], tt[1], tt[2] = uint32('b')|1<<8, uint32('a')|0<<8, uint32('c')|2<<8
	lf[0], lf[1], lf[2] = uint32('b')|1<<8, uint32('a')|0<<8, uint32('c')|2<<8
	assert.False(t, bzWalk(make([]byte, 3), tt, lf, 0))
}

// FuzzBzip2Block: on any block, the block decoder (with its fallback)
// accepts exactly what dsnet/compress accepts, with the same bytes.
func FuzzBzip2Block(f *testing.F) {
	// More seeds, blocks as bzip2 makes them, are in testdata/fuzz.
	for _, data := range [][]byte{payload(30_000, 4), blockInput(f, "runs")[:20_000]} {
		for _, b := range scanBlocks(f, testutil.Bzip2(f, data, 1)) {
			f.Add(b.stream[bzHead:bzHead+(b.bits+7)/8], uint8(-b.bits&7)) // cut: the padding bits
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		bits := 8*len(in) - int(cut%8)
		if bits < bzMinBlock {
			return
		}
		w := bitWriter{buf: []byte("BZh1\x31\x41\x59\x26\x53\x59")}
		w.copyBits(in, bits)
		crc := uint32(0)
		if len(in) >= 4 {
			crc = uint32(in[0])<<24 | uint32(in[1])<<16 | uint32(in[2])<<8 | uint32(in[3])
		}
		b := &bzBlock{stream: w.finishBlock(crc), bits: bits, level: '1', crc: crc}
		want, werr := decodeBlock(b, true)
		got, gerr := decodeBlock(b, false)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("reference %v, block decoder %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(want, got) {
			t.Fatal("the block decodes differently")
		}
	})
}

// Blocks are walked in pieces, several at once, unless they are small or
// repeat a string: then from both ends, with the backward links (lf) made
// for it.
func TestBzip2WalkInPieces(t *testing.T) {
	for _, c := range []struct {
		name   string
		data   []byte
		pieces bool
	}{
		{"floats", floats(1_000_000, 9), true},
		{"random", blockInput(t, "random"), true},
		{"repeat", blockInput(t, "repeat"), false},
		{"small", payload(50_000, 2), false},
	} {
		checkWalks(t, c.name, testutil.Bzip2(t, c.data, 9), c.data, []bool{c.pieces})
	}
	// bzip2's own blocks: 100,000 bytes, 50,000 and one line.
	f := readFixture(t, "multistream.bz2")
	checkWalks(t, "multistream.bz2", f, nil, []bool{true, false, false})
}

// checkWalks decodes each block of the bzip2 stream c and checks that it
// was walked in pieces as pieces says (its last value stands for the blocks
// after it), that it decodes as the reference decodes it, and, data not nil,
// that the blocks make up data.
func checkWalks(t *testing.T, name string, c, data []byte, pieces []bool) {
	t.Helper()
	var all []byte
	blocks := scanBlocks(t, c)
	require.NotEmpty(t, blocks, name)
	for i, b := range blocks {
		d := new(bzDec)
		run, err := d.decode(b.stream, b.bits, b.level)
		require.NoError(t, err, name)
		assert.Equal(t, pieces[min(i, len(pieces)-1)], d.lf == nil, "%s, block %d: walked in pieces", name, i)
		got, err := io.ReadAll(run)
		require.NoError(t, err, name)
		want, err := decodeBlock(b, true)
		require.NoError(t, err, name)
		require.True(t, bytes.Equal(want, got), name)
		all = append(all, got...)
	}
	if data != nil {
		assert.True(t, bytes.Equal(data, all), "%s: the blocks do not make up the data", name)
	}
}
