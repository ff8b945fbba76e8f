package fsutil

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFlusherStartsWriteBackEveryFewMegabytes(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	require.NoError(t, err)
	defer f.Close()
	var calls [][2]int64
	w := &Flusher{start: func(_ *os.File, off, n int64) { calls = append(calls, [2]int64{off, n}) }}
	data := make([]byte, 3*FlushEvery)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	piece := FlushEvery/2 + 1
	for off := 0; off < len(data); off += piece {
		n, err := f.Write(data[off:min(off+piece, len(data))])
		w.Wrote(f, n)
		require.NoError(t, err)
		require.Equal(t, min(piece, len(data)-off), n)
	}
	p := int64(piece)
	assert.Equal(t, [][2]int64{{0, 2 * p}, {2 * p, 2 * p}}, calls, "every time FlushEvery more bytes were written")
	got, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))

	// Truncated and written again from 0: counted from 0 again.
	require.NoError(t, f.Truncate(0))
	_, err = f.Seek(0, 0)
	require.NoError(t, err)
	w.Reset()
	calls = nil
	n, err := f.Write(data[:FlushEvery])
	require.NoError(t, err)
	w.Wrote(f, n)
	assert.Equal(t, [][2]int64{{0, FlushEvery}}, calls)
	startWriteback(f, 0, FlushEvery) // the real one, on a real file: no panic, no error to see
}
