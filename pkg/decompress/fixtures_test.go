package decompress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// randomisedText is what testdata/randomised.bz2 holds.
const randomisedText = "A randomised block, as bzip2 before 0.9.5 wrote them. Randomising flips\n" +
	"one byte in hundreds, the 618th first: this shorter text reads the same.\n"

// bzFixtures are the .bz2 files of testdata, made once by bzip2 1.0.8
// (testdata/README.md says how), with the SHA-256 and size of what they
// decode to, or the error they give.
var bzFixtures = []struct {
	name   string
	size   int
	sha256 string
	err    string // in the error, when they do not decode
}{
	{name: "empty.bz2", size: 0, sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	{name: "tiny.bz2", size: 13, sha256: "6b06d565661839b59436b60be61eaf5ebe1aa5cb4097483c42e025985b0228c9"},
	// Two streams: 150,000 bytes of words at level 1 (two blocks), a line at 9.
	{name: "multistream.bz2", size: 150_030, sha256: "36ca02c61a5625fe15ad3f0e8e504e19ca7259a64dfcb970b74ea0fd01406db1"},
	// One block with the randomised flag set; bzip2 1.0.8 decodes it to
	// randomisedText. Both decoders refuse it, as the libraries do.
	{name: "randomised.bz2", err: "random"},
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// The committed fixtures decode to what bzip2 decodes them to, in both the
// parallel and the serial decoder; a randomised block is refused as corrupt,
// with a message that says why.
func TestBzip2Fixtures(t *testing.T) {
	for _, f := range bzFixtures {
		for _, o := range []Options{{}, {Serial: true}} {
			t.Run(f.name, func(t *testing.T) {
				r, err := Open(context.Background(), Bzip2, bytes.NewReader(readFixture(t, f.name)), o)
				require.NoError(t, err)
				got, err := io.ReadAll(r)
				require.NoError(t, r.Close())
				if f.err != "" {
					require.Error(t, err)
					assert.True(t, IsCorrupt(err), "%v", err)
					assert.Contains(t, err.Error(), f.err)
					return
				}
				require.NoError(t, err)
				sum := sha256.Sum256(got)
				assert.Equal(t, f.size, len(got))
				assert.Equal(t, f.sha256, hex.EncodeToString(sum[:]))
			})
		}
	}
}

// The randomised fixture is a real stream: the same block, its flag
// cleared, decodes to randomisedText.
func TestBzip2RandomisedFixtureIsOneBitFromValid(t *testing.T) {
	c := readFixture(t, "randomised.bz2")
	require.Equal(t, byte(0x80), c[14]&0x80, "the randomised flag, after the block magic and CRC")
	c[14] &^= 0x80
	got, err := decodeAll(t, Bzip2, c)
	require.NoError(t, err)
	assert.Equal(t, randomisedText, string(got))
}

// A block that its magic ends before its data does (found by FuzzOpen):
// the reference decoder runs out of the block, which the scanner had whole.
// That is corrupt, not truncated, even with a stream header cut short after
// it.
func TestBzip2BlockShortOfItsDataIsCorrupt(t *testing.T) {
	in := []byte("BZh91AY&SY\xb1#\xdeC\x00\x00\x03Y\x80\x00\x10@\x04\x10\x00\x12dBZh91\x03@\xd0 \x01" +
		"\xa6\x91\x03\xabl\x82\x84\xf8\xbb\x92)\u0084\x85\x89\x1e\xf2\x18BZh9")
	blocks := scanBlocks(t, in[:len(in)-4])
	require.Len(t, blocks, 1)
	for _, f := range []Format{Bzip2, Auto} {
		_, err := decodeAll(t, f, in)
		require.Error(t, err)
		assert.True(t, IsCorrupt(err), "%v: %v", f, err)
		assert.False(t, IsTruncated(err), "%v: %v", f, err)
	}
}
