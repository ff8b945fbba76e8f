//go:build unix

package fsutil

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testutil"
)

func TestOpenRegularNeverBlocksOnAFIFO(t *testing.T) {
	dir := t.TempDir()
	root := openRoot(t, dir)
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	for _, flag := range []int{os.O_RDONLY, os.O_WRONLY, os.O_RDWR | os.O_CREATE} {
		var err error
		testutil.Within(t, 5*time.Second, func() { _, err = OpenRegular(root, "fifo", flag, 0o644) })
		assert.ErrorIs(t, err, ErrNotRegular)
	}
}

func TestRemoveStaleTempsLeavesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	root := openRoot(t, dir)
	fifo := filepath.Join(dir, TempPrefix+"fifo.1"+TempSuffix)
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	var n int
	var err error
	testutil.Within(t, 5*time.Second, func() { n, err = RemoveStaleTempsTree(root, ".") })
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = os.Lstat(fifo)
	assert.NoError(t, err, "not a file modelfetch writes: left alone")
}
