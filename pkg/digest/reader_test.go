package digest

import (
	"bytes"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReader(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	good := Of(data)
	bad := Of([]byte("other"))
	for _, tc := range []struct {
		name      string
		want      Digest
		size      int64
		written   int
		integrity bool
		over      bool
	}{
		{name: "digest and size match", want: good, size: int64(len(data)), written: len(data)},
		{name: "no digest, no size", size: -1, written: len(data)},
		{name: "digest mismatch", want: bad, size: -1, written: len(data), integrity: true},
		{name: "shorter than size", want: good, size: int64(len(data)) + 1, written: len(data), integrity: true},
		{name: "longer than size stops at the size", want: good, size: 100, written: 100, integrity: true, over: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			r := NewReader(iotest.HalfReader(bytes.NewReader(data)), tc.want, tc.size)
			n, err := io.Copy(&out, r)
			assert.Equal(t, int64(tc.written), n)
			assert.Equal(t, tc.written, out.Len())
			if !tc.integrity {
				require.NoError(t, err)
				assert.Equal(t, good, r.Digest())
				return
			}
			require.Error(t, err)
			assert.True(t, IsIntegrity(err), "%v", err)
			var se *SizeError
			if tc.over {
				require.ErrorAs(t, err, &se)
				assert.True(t, se.Over)
			}
			// The error sticks.
			_, err2 := r.Read(make([]byte, 10))
			assert.Equal(t, err, err2)
		})
	}
}

func TestReaderPassesIOErrors(t *testing.T) {
	r := NewReader(iotest.TimeoutReader(bytes.NewReader([]byte("abcdef"))), Digest{}, -1)
	_, err := io.ReadAll(r)
	require.ErrorIs(t, err, iotest.ErrTimeout)
	assert.False(t, IsIntegrity(err))
}

func TestSizeReader(t *testing.T) {
	r := NewSizeReader(bytes.NewReader([]byte("abcdef")), 6)
	n, err := io.Copy(io.Discard, r)
	require.NoError(t, err)
	assert.Equal(t, int64(6), n)
	assert.True(t, r.Digest().IsZero())
	_, err = io.Copy(io.Discard, NewSizeReader(bytes.NewReader([]byte("abcdef")), 4))
	assert.True(t, IsIntegrity(err))
}

// A declared size at the edge of int64 must not overflow the overflow probe
// (it panicked with "slice bounds out of range").
func TestReaderHugeDeclaredSize(t *testing.T) {
	r := NewReader(strings.NewReader("abc"), Digest{}, math.MaxInt64)
	b := make([]byte, 16)
	n, err := r.Read(b)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}
