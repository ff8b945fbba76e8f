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
)

func TestReadRegularFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(file, []byte("0123456789"), 0o600))
	b, err := ReadRegularFile(file, 10)
	require.NoError(t, err)
	assert.Equal(t, "0123456789", string(b))

	_, err = ReadRegularFile(file, 9)
	assert.ErrorIs(t, err, ErrTooLarge)

	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(file, link))
	b, err = ReadRegularFile(link, 10)
	require.NoError(t, err, "a dotfile may be a symlink")
	assert.Equal(t, "0123456789", string(b))

	_, err = ReadRegularFile(filepath.Join(dir, "none"), 10)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = ReadRegularFile(dir, 10)
	assert.ErrorIs(t, err, ErrNotRegular)
	_, err = ReadRegularFile("/dev/zero", 10)
	assert.ErrorIs(t, err, ErrNotRegular)

	// A FIFO with no writer: refused at once, where a blocking open would
	// wait for a writer forever.
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	start := time.Now()
	_, err = ReadRegularFile(fifo, 10)
	assert.ErrorIs(t, err, ErrNotRegular)
	assert.Less(t, time.Since(start), time.Second)
}
