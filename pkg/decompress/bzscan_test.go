package decompress

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testutil"
)

// bitsOf returns the bits of b, one per byte, most significant first.
func bitsOf(b []byte) []byte {
	out := make([]byte, 0, 8*len(b))
	for _, c := range b {
		for k := 7; k >= 0; k-- {
			out = append(out, c>>k&1)
		}
	}
	return out
}

func bitsOfValue(v uint64, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(v >> (n - 1 - i) & 1)
	}
	return out
}

// packBits packs bits, padding the last byte with zeros.
func packBits(bits []byte) []byte {
	out := make([]byte, (len(bits)+7)/8)
	for i, b := range bits {
		out[i/8] |= b << (7 - i%8)
	}
	return out
}

// withJunkAfterFirstBlock inserts junk bits between the first block's data
// and the magic that starts the second block of a bzip2 stream.
func withJunkAfterFirstBlock(t *testing.T, c, junk []byte) []byte {
	t.Helper()
	sc := bzScanner{in: bufio.NewReader(bytes.NewReader(c))}
	var blocks []*bzBlock
	for {
		b, err := sc.next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		blocks = append(blocks, b)
	}
	require.GreaterOrEqual(t, len(blocks), 2)
	require.Equal(t, 1, sc.streams)
	end := 32 + 48*len(blocks) + 48 + 32 // header, magics, trailer
	for _, b := range blocks {
		end += b.bits
	}
	all := bitsOf(c)[:end]
	at := 32 + 48 + blocks[0].bits
	out := append(append(append([]byte{}, all[:at]...), junk...), all[at:]...)
	return packBits(out)
}

func randomBits(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(r.IntN(2))
	}
	return out
}

// The 48-bit magics may occur inside a block's bits. An end-of-stream magic
// that is not followed by a stream's end is taken as data; a block magic
// splits the block, and the parts are joined again when the first fails.
func TestBzip2MagicsInsideBlocks(t *testing.T) {
	data := payload(250_000, 51)
	c := testutil.Bzip2(t, data, 1) // three blocks of 100k
	// After a block's end-of-block symbol the decoder reads no further, so
	// bits there are ignored: a place to put a magic that is not one.
	eos := append(append(append(randomBits(13, 1), bitsOfValue(bzEOSMagic, 48)...), randomBits(32, 2)...), randomBits(77, 3)...)
	r, err := Open(context.Background(), Bzip2, bytes.NewReader(withJunkAfterFirstBlock(t, c, eos)), Options{})
	require.NoError(t, err)
	// The scanner must not take it for the end of the stream; the block
	// decoder (compress/bzip2) may then refuse the junk it is handed: a
	// corrupt stream, never wrong bytes, never a hang.
	got, err := io.ReadAll(r)
	if err != nil {
		assert.True(t, IsCorrupt(err), "%v", err)
	} else {
		assert.True(t, bytes.Equal(data, got), "decoded %d bytes of %d", len(got), len(data))
	}
	require.NoError(t, r.Close())

	// A block magic there makes a "block" of junk; joined with the next
	// block it is still junk: corrupt, and nothing hangs.
	blk := append(append(randomBits(13, 4), bitsOfValue(bzBlockMagic, 48)...), randomBits(200, 5)...)
	_, err = decodeAll(t, Bzip2, withJunkAfterFirstBlock(t, c, blk))
	require.Error(t, err)
	assert.True(t, IsCorrupt(err), "%v", err)

	// Cut after the magic that is not one: truncated, or corrupt where the
	// block decoder refused the junk already (see above); classified either
	// way, never both.
	in := withJunkAfterFirstBlock(t, c, eos)
	_, err = decodeAll(t, Bzip2, in[:len(in)/2])
	assert.True(t, IsTruncated(err) != IsCorrupt(err), "%v", err)
}
