package decompress

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"github.com/djok/modelfetch/internal/testutil"
)

// payload returns compressible but non-trivial bytes.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefgh"[r.IntN(8)]
	}
	return b
}

func compress(t testing.TB, f Format, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch f {
	case None:
		return data
	case Bzip2:
		return testutil.Bzip2(t, data, 1)
	case Gzip:
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(data)
		require.NoError(t, w.Close())
	case Zstd:
		w, err := zstd.NewWriter(&buf)
		require.NoError(t, err)
		_, _ = w.Write(data)
		require.NoError(t, w.Close())
	case Xz:
		w, err := xz.NewWriter(&buf)
		require.NoError(t, err)
		_, _ = w.Write(data)
		require.NoError(t, w.Close())
	}
	return buf.Bytes()
}

var allFormats = []Format{None, Bzip2, Gzip, Zstd, Xz}

func TestRoundTripDetected(t *testing.T) {
	data := payload(300_000, 1)
	for _, f := range allFormats {
		t.Run(f.String(), func(t *testing.T) {
			r, err := Open(context.Background(), Auto, bytes.NewReader(compress(t, f, data)), Options{})
			require.NoError(t, err)
			defer r.Close()
			assert.Equal(t, f, r.Format())
			got, err := io.ReadAll(r)
			require.NoError(t, err)
			assert.Equal(t, data, got)
		})
	}
}

func TestMultiStream(t *testing.T) {
	// pbzip2/lbzip2 and pigz write concatenated streams; the whole must decode.
	a, b := payload(200_000, 2), payload(150_000, 3)
	for _, f := range []Format{Bzip2, Gzip, Zstd, Xz} {
		t.Run(f.String(), func(t *testing.T) {
			in := append(compress(t, f, a), compress(t, f, b)...)
			r, err := Open(context.Background(), f, bytes.NewReader(in), Options{})
			require.NoError(t, err)
			got, err := io.ReadAll(r)
			require.NoError(t, err)
			assert.Equal(t, append(append([]byte{}, a...), b...), got)
		})
	}
}

func TestTruncatedIsNotCorrupt(t *testing.T) {
	data := payload(300_000, 4)
	for _, f := range []Format{Bzip2, Gzip, Zstd, Xz} {
		t.Run(f.String(), func(t *testing.T) {
			c := compress(t, f, data)
			r, err := Open(context.Background(), f, bytes.NewReader(c[:len(c)*2/3]), Options{})
			if err == nil {
				_, err = io.ReadAll(r)
			}
			require.Error(t, err)
			assert.True(t, IsTruncated(err), "want truncated, got %v", err)
			assert.False(t, IsCorrupt(err))
		})
	}
}

func TestCorrupt(t *testing.T) {
	data := payload(300_000, 5)
	for _, f := range []Format{Bzip2, Gzip, Zstd, Xz} {
		t.Run(f.String(), func(t *testing.T) {
			c := compress(t, f, data)
			// Flip bytes in the middle; the stream stays complete.
			for i := len(c) / 2; i < len(c)/2+16; i++ {
				c[i] ^= 0x5a
			}
			r, err := Open(context.Background(), f, bytes.NewReader(c), Options{})
			if err == nil {
				_, err = io.ReadAll(r)
			}
			require.Error(t, err)
			assert.True(t, IsCorrupt(err), "want corrupt, got %v", err)
			assert.NotRegexp(t, "corrupt .* stream: corrupt .* stream", err.Error(), "said once")
		})
	}
}

func TestInputErrorsPassThrough(t *testing.T) {
	boom := errors.New("connection reset")
	data := payload(300_000, 6)
	for _, f := range allFormats {
		t.Run(f.String(), func(t *testing.T) {
			c := compress(t, f, data)
			in := io.MultiReader(bytes.NewReader(c[:len(c)/2]), failing{boom})
			r, err := Open(context.Background(), f, in, Options{})
			if err == nil {
				_, err = io.ReadAll(r)
			}
			require.ErrorIs(t, err, boom)
		})
	}
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

func TestParse(t *testing.T) {
	for _, f := range allFormats {
		got, err := Parse(f.String())
		require.NoError(t, err)
		assert.Equal(t, f, got)
	}
	got, err := Parse("")
	require.NoError(t, err)
	assert.Equal(t, Auto, got)
	_, err = Parse("auto")
	require.Error(t, err)
	_, err = Parse("lzma")
	require.ErrorContains(t, err, "unknown compression")
}

func TestSniff(t *testing.T) {
	assert.Equal(t, None, Sniff([]byte("BZhx")), "bzip2 needs a block size digit")
	assert.Equal(t, Bzip2, Sniff([]byte("BZh9")))
	assert.Equal(t, None, Sniff(nil))
	assert.Equal(t, None, Sniff([]byte("PK\x03\x04")))
}

func TestSerialAndParallelBzip2Agree(t *testing.T) {
	data := payload(2_000_000, 11)
	c := append(testutil.Bzip2(t, data[:700_000], 1), testutil.Bzip2(t, data[700_000:], 9)...)
	for _, o := range []Options{{Serial: true}, {}, {Pool: NewPool(1)}} {
		r, err := Open(context.Background(), Bzip2, bytes.NewReader(c), o)
		require.NoError(t, err)
		got, err := io.ReadAll(r)
		require.NoError(t, err)
		require.NoError(t, r.Close())
		assert.Equal(t, data, got)
	}
}

// A name's ending says what to expect, in any case; the rest of the name is
// kept as written.
func TestByName(t *testing.T) {
	for name, want := range map[string]struct {
		f    Format
		rest string
	}{
		"dlib.dat.bz2": {Bzip2, "dlib.dat"}, "m.onnx.GZ": {Gzip, "m.onnx"}, "a.zst": {Zstd, "a"},
		"b.tar.xz": {Xz, "b.tar"}, "model.pth": {None, "model.pth"}, ".bz2": {Bzip2, ""}, "bz2": {None, "bz2"},
	} {
		f, rest := ByName(name)
		assert.Equal(t, want.f, f, name)
		assert.Equal(t, want.rest, rest, name)
	}
}
