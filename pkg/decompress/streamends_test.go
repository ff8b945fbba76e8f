package decompress

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decodeAll(t *testing.T, f Format, in []byte) ([]byte, error) {
	t.Helper()
	r, err := Open(context.Background(), f, bytes.NewReader(in), Options{Pool: NewPool(2)})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Bytes after the last complete stream that cannot start another are an
// integrity failure (corrupt), never a cut (truncated); a stream cut before
// its end marker is truncated, wherever the cut falls.
func TestStreamEnds(t *testing.T) {
	data := payload(100_000, 21)
	garbage := map[string][]byte{
		"one byte":   []byte("x"),
		"three":      []byte("<ht"),
		"html":       []byte("<html><body>502 Bad Gateway</body></html>\n"),
		"random 4k":  payload(4096, 22),
		"high bytes": bytes.Repeat([]byte{0xa5}, 13),
	}
	for _, f := range []Format{Bzip2, Gzip, Zstd, Xz} {
		c := compress(t, f, data)
		for name, g := range garbage {
			t.Run(fmt.Sprintf("%v/garbage %s", f, name), func(t *testing.T) {
				for _, fm := range []Format{f, Auto} {
					_, err := decodeAll(t, fm, append(append([]byte{}, c...), g...))
					require.Error(t, err)
					assert.True(t, IsCorrupt(err), "%v: want corrupt, got %v", fm, err)
					assert.False(t, IsTruncated(err), "%v: %v", fm, err)
				}
			})
		}
		for _, cut := range []int{1, 5, 11, len(c) / 3, len(c) - 20, len(c) - 5, len(c) - 1} {
			t.Run(fmt.Sprintf("%v/cut at %d of %d", f, cut, len(c)), func(t *testing.T) {
				_, err := decodeAll(t, f, c[:cut])
				require.Error(t, err)
				assert.True(t, IsTruncated(err), "want truncated, got %v", err)
				assert.False(t, IsCorrupt(err), "%v", err)
			})
		}
		// A second stream cut anywhere is a cut too, and whole it decodes.
		two := append(append([]byte{}, c...), c...)
		for _, cut := range []int{len(c) + 1, len(c) + 3, len(c) + 7, len(c) + 13, len(two) - 1} {
			t.Run(fmt.Sprintf("%v/second stream cut at %d", f, cut-len(c)), func(t *testing.T) {
				_, err := decodeAll(t, f, two[:cut])
				require.Error(t, err)
				assert.True(t, IsTruncated(err), "want truncated, got %v", err)
			})
		}
		t.Run(fmt.Sprintf("%v/two streams", f), func(t *testing.T) {
			got, err := decodeAll(t, f, two)
			require.NoError(t, err)
			assert.Equal(t, append(append([]byte{}, data...), data...), got)
		})
	}
}

// bzip2 of nothing is a stream without blocks; it may stand anywhere.
func TestBzip2EmptyStreams(t *testing.T) {
	empty, data := readFixture(t, "empty.bz2"), payload(50_000, 23)
	full := compress(t, Bzip2, data)
	for name, c := range map[string]struct {
		in   []byte
		want []byte
	}{
		"empty":          {in: empty},
		"empty, full":    {in: append(append([]byte{}, empty...), full...), want: data},
		"full, empty":    {in: append(append([]byte{}, full...), empty...), want: data},
		"full, empty x3": {in: append(append([]byte{}, full...), bytes.Repeat(empty, 3)...), want: data},
	} {
		t.Run(name, func(t *testing.T) {
			for _, o := range []Options{{}, {Serial: true}} {
				r, err := Open(context.Background(), Bzip2, bytes.NewReader(c.in), o)
				require.NoError(t, err)
				got, err := io.ReadAll(r)
				require.NoError(t, err)
				require.NoError(t, r.Close())
				assert.Equal(t, len(c.want), len(got))
				assert.True(t, bytes.Equal(c.want, got))
			}
		})
	}
	_, err := decodeAll(t, Bzip2, empty[:len(empty)-2])
	assert.True(t, IsTruncated(err), "%v", err)
}
