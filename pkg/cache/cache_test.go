package cache

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
)

func TestWriteCommitList(t *testing.T) {
	c := New(filepath.Join(t.TempDir(), "c"))
	data := []byte("model bytes")
	d := digest.Of(data)
	assert.False(t, c.Has(d))
	entries, err := c.List()
	require.NoError(t, err)
	assert.Empty(t, entries, "a cache that was never written lists nothing")

	w, err := c.Create()
	require.NoError(t, err)
	_, err = w.Write([]byte("garbage"))
	require.NoError(t, err)
	require.NoError(t, w.Reset())
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Commit(d))
	w.Abort() // harmless after Commit

	assert.True(t, c.Has(d))
	b, err := os.ReadFile(c.BlobPath(d))
	require.NoError(t, err)
	assert.Equal(t, data, b)
	fi, err := os.Stat(c.BlobPath(d))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o444), fi.Mode().Perm(), "blobs are read-only")
	require.NoError(t, c.Verify(context.Background(), d))

	entries, err = c.List()
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, d, entries[0].Digest)
	assert.Equal(t, int64(len(data)), entries[0].Size)

	tmp, err := os.ReadDir(filepath.Join(c.Dir(), "tmp"))
	require.NoError(t, err)
	assert.Empty(t, tmp, "no temp file is left after commit")

	require.NoError(t, c.Remove(d))
	require.NoError(t, c.Remove(d), "removing twice is fine")
	assert.False(t, c.Has(d))
}

func TestVerifyFindsCorruption(t *testing.T) {
	c := New(t.TempDir())
	d := digest.Of([]byte("good"))
	w, err := c.Create()
	require.NoError(t, err)
	_, _ = w.Write([]byte("evil"))
	require.NoError(t, w.Commit(d))
	err = c.Verify(context.Background(), d)
	assert.True(t, digest.IsIntegrity(err), "%v", err)
}

func TestAbortLeavesNothing(t *testing.T) {
	c := New(t.TempDir())
	w, err := c.Create()
	require.NoError(t, err)
	_, _ = w.Write([]byte("partial"))
	w.Abort()
	tmp, err := os.ReadDir(filepath.Join(c.Dir(), "tmp"))
	require.NoError(t, err)
	assert.Empty(t, tmp)
}

func TestCleanRemovesOnlyDeadTemps(t *testing.T) {
	c := New(t.TempDir())
	live, err := c.Create()
	require.NoError(t, err)
	defer live.Abort()
	// A killed run's temp file: same naming, nobody holds its lock.
	dead := filepath.Join(c.Dir(), "tmp", ".modelfetch-blob.dead.tmp")
	require.NoError(t, os.WriteFile(dead, []byte("half"), 0o600))
	n, err := c.Clean()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 1)
	assert.NoFileExists(t, dead)
	_, err = os.Stat(filepath.Join(c.Dir(), live.name))
	assert.NoError(t, err, "a live writer's temp file is kept")
}

func TestClaimIsExclusive(t *testing.T) {
	c := New(t.TempDir())
	d := digest.Of([]byte("x"))
	unlock, err := c.Claim(context.Background(), d)
	require.NoError(t, err)
	// flock locks belong to open files, so a second open in this process
	// conflicts just as another process would.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = c.Claim(ctx, d)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	unlock()
	unlock2, err := c.Claim(context.Background(), d)
	require.NoError(t, err)
	unlock2()
}
