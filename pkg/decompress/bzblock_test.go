package decompress

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func bzip2Level(t testing.TB, data []byte, level string) []byte {
	t.Helper()
	if _, err := exec.LookPath("bzip2"); err != nil {
		t.Skip("bzip2 not installed")
	}
	cmd := exec.Command("bzip2", "-c", "-"+level)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	require.NoError(t, err)
	return out
}

// blockInputs are data that reach every path of the block decoder: all 256
// byte values (move-to-front indices past 16 and up to 255), long runs (the
// first run-length stage's counts, up to 255, and the second's RUNA/RUNB
// runs), runs of exactly 4, a block of one byte value, the model-like floats.
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
	}
}

// The block decoder gives the bytes dsnet/compress gives, for every block of
// streams made by bzip2 at levels 1 and 9, without falling back.
func TestBzip2BlockDecoderMatchesReference(t *testing.T) {
	for name, data := range blockInputs() {
		for _, level := range []string{"1", "9"} {
			t.Run(name+"/"+level, func(t *testing.T) {
				var got []byte
				for _, b := range scanBlocks(t, bzip2Level(t, data, level)) {
					_, err := new(bzDec).decode(b.stream, b.bits, b.level)
					require.NoError(t, err, "the block decoder left a valid block to the reference")
					out, err := decodeBlock(b, false)
					require.NoError(t, err)
					want, err := decodeBlock(b, true)
					require.NoError(t, err)
					require.True(t, bytes.Equal(want, out), "block decodes differently")
					got = append(got, out...)
				}
				assert.True(t, bytes.Equal(data, got))
			})
		}
	}
}

// A damaged block is refused by the block decoder exactly when the
// reference refuses it, and otherwise decodes to the same bytes.
func TestBzip2BlockDecoderDamage(t *testing.T) {
	inputs := blockInputs()
	r := rand.New(rand.NewPCG(8, 8))
	for _, name := range []string{"random", "runs", "fours", "letters", "floats"} {
		blocks := scanBlocks(t, bzip2Level(t, inputs[name][:min(len(inputs[name]), 150_000)], "2"))
		for range 25 {
			b := blocks[r.IntN(len(blocks))]
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
			d := &bzBlock{stream: s, bits: bits, level: b.level, crc: b.crc}
			want, werr := decodeBlock(d, true)
			got, gerr := decodeBlock(d, false)
			require.Equal(t, werr == nil, gerr == nil, "%s: reference %v, block decoder %v", name, werr, gerr)
			if werr == nil {
				require.True(t, bytes.Equal(want, got), "%s: damaged block decodes differently", name)
			}
		}
	}
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
	if _, err := exec.LookPath("bzip2"); err == nil {
		for _, b := range scanBlocks(f, bzip2Level(f, payload(30_000, 4), "1")) {
			f.Add(b.stream[bzHead:bzHead+(b.bits+7)/8], uint8(b.bits%8))
		}
		for _, b := range scanBlocks(f, bzip2Level(f, blockInputs()["runs"][:20_000], "1")) {
			f.Add(b.stream[bzHead:bzHead+(b.bits+7)/8], uint8(b.bits%8))
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
		{"random", blockInputs()["random"], true},
		{"repeat", blockInputs()["repeat"], false},
		{"small", payload(50_000, 2), false},
	} {
		for _, b := range scanBlocks(t, bzip2Level(t, c.data, "9")) {
			d := new(bzDec)
			run, err := d.decode(b.stream, b.bits, b.level)
			require.NoError(t, err, c.name)
			assert.Equal(t, c.pieces, d.lf == nil, c.name)
			got, err := io.ReadAll(run)
			require.NoError(t, err, c.name)
			want, err := decodeBlock(b, true)
			require.NoError(t, err, c.name)
			require.True(t, bytes.Equal(want, got), c.name)
		}
	}
}
