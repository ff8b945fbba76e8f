//go:build unix

package cache

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testutil"
	"github.com/djok/modelfetch/pkg/digest"
)

// layout makes the cache folders, as a run that wrote to it would have.
func layout(t *testing.T) *Cache {
	t.Helper()
	c := New(filepath.Join(t.TempDir(), "cache"))
	w, err := c.Create()
	require.NoError(t, err)
	w.Abort()
	return c
}

func put(t *testing.T, c *Cache, data []byte) digest.Digest {
	t.Helper()
	d := digest.Of(data)
	w, err := c.Create()
	require.NoError(t, err)
	_, _ = w.Write(data)
	require.NoError(t, w.Commit(d))
	return d
}

// A blob that is not a regular file is a miss: never opened in a way that
// blocks, never read through a symlink, and removed by Check.
func TestDamagedBlobIsAMiss(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside")
	require.NoError(t, os.WriteFile(outside, []byte("model bytes"), 0o644))
	for name, mk := range map[string]func(p string) error{
		"fifo":             func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"symlink to zero":  func(p string) error { return os.Symlink("/dev/zero", p) },
		"symlink outside":  func(p string) error { return os.Symlink(outside, p) },
		"symlink in cache": func(p string) error { return os.Symlink("../../tmp", p) },
		"folder":           func(p string) error { return os.Mkdir(p, 0o755) },
	} {
		t.Run(name, func(t *testing.T) {
			c := layout(t)
			d := digest.Of([]byte("model bytes"))
			require.NoError(t, mk(c.BlobPath(d)))
			assert.False(t, c.Has(d))
			testutil.Within(t, 5*time.Second, func() {
				f, err := c.Open(d)
				if f != nil {
					f.Close()
				}
				assert.ErrorIs(t, err, ErrDamaged)
				assert.ErrorIs(t, err, fs.ErrNotExist, "a caller that knows only misses treats it as one")
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			testutil.Within(t, 6*time.Second, func() {
				assert.ErrorIs(t, c.Verify(ctx, d), ErrDamaged)
				ok, err := c.Check(ctx, d, 11)
				assert.NoError(t, err)
				assert.False(t, ok)
			})
			_, err := os.Lstat(c.BlobPath(d))
			assert.ErrorIs(t, err, fs.ErrNotExist, "Check removes the damaged entry")
			b, err := os.ReadFile(outside)
			require.NoError(t, err)
			assert.Equal(t, "model bytes", string(b), "a symlink's target is never touched")
			// The next download puts a real blob in its place.
			put(t, c, []byte("model bytes"))
			ok, err := c.Check(ctx, d, 11)
			assert.NoError(t, err)
			assert.True(t, ok)
		})
	}
}

func TestClaimFileFIFODoesNotHang(t *testing.T) {
	c := layout(t)
	d := digest.Of([]byte("x"))
	lock := filepath.Join(c.Dir(), "locks", d.String()+".lock")
	require.NoError(t, syscall.Mkfifo(lock, 0o644))
	// Should Claim block on the FIFO, a writer lets it go after the test.
	t.Cleanup(func() {
		if f, err := os.OpenFile(lock, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	var unlock func()
	var err error
	testutil.Within(t, 5*time.Second, func() { unlock, err = c.Claim(context.Background(), d) })
	require.NoError(t, err)
	defer unlock()
	fi, err := os.Lstat(lock)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the FIFO was replaced by a lock file")
	// And it is a real lock.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = c.Claim(ctx, d)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// As root too (the tests run as root here): a lock file that is a symlink
// never creates a file outside the cache.
func TestClaimFileSymlinkCreatesNothingOutside(t *testing.T) {
	c := layout(t)
	d := digest.Of([]byte("x"))
	target := filepath.Join(t.TempDir(), "planted")
	lock := filepath.Join(c.Dir(), "locks", d.String()+".lock")
	require.NoError(t, os.Symlink(target, lock))
	unlock, err := c.Claim(context.Background(), d)
	require.NoError(t, err)
	defer unlock()
	assert.NoFileExists(t, target)
	fi, err := os.Lstat(lock)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular())
}

func TestTruncatedBlobIsAMiss(t *testing.T) {
	c := layout(t)
	data := []byte("the whole model")
	d := put(t, c, data)
	require.NoError(t, os.Chmod(c.BlobPath(d), 0o644))
	require.NoError(t, os.Truncate(c.BlobPath(d), 4))
	ok, err := c.Check(context.Background(), d, int64(len(data)))
	assert.NoError(t, err)
	assert.False(t, ok)
	assert.False(t, c.Has(d), "removed")
	// Size unknown: the digest finds it.
	d = put(t, c, data)
	require.NoError(t, os.Chmod(c.BlobPath(d), 0o644))
	require.NoError(t, os.Truncate(c.BlobPath(d), 4))
	ok, err = c.Check(context.Background(), d, -1)
	assert.NoError(t, err)
	assert.False(t, ok)
	assert.False(t, c.Has(d))
}

// `cache warm` on Ctrl-C: a cancelled check says nothing about the blob.
func TestCheckKeepsBlobWhenCancelled(t *testing.T) {
	c := layout(t)
	d := put(t, c, []byte("good"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ok, err := c.Check(ctx, d, 4)
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, ok)
	assert.True(t, c.Has(d), "a good blob survives Ctrl-C")
	ok, err = c.Check(context.Background(), d, 4)
	assert.NoError(t, err)
	assert.True(t, ok)
}

// A full disk: Write never fails the stream, Commit says the cache is
// unavailable, and the partial blob's space is given back at once.
func TestFullCacheDiskNeverFailsTheStream(t *testing.T) {
	c := layout(t)
	w, err := c.Create()
	require.NoError(t, err)
	defer w.Abort()
	tmp := filepath.Join(c.Dir(), w.name)
	_, err = w.Write([]byte("first bytes"))
	require.NoError(t, err)
	// Swap the temp file's descriptor for /dev/full: the next write gets ENOSPC.
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	require.NoError(t, err)
	w.f.Close()
	w.f = full
	n, err := w.Write([]byte("more"))
	assert.NoError(t, err, "the install stream goes on")
	assert.Equal(t, 4, n)
	assert.ErrorIs(t, w.Err(), ErrUnavailable)
	assert.ErrorIs(t, w.Err(), syscall.ENOSPC)
	assert.NoFileExists(t, tmp, "the partial blob is removed at once")
	_, err = w.Write([]byte("discarded"))
	assert.NoError(t, err)
	assert.NoError(t, w.Reset())
	d := digest.Of([]byte("first bytesmore"))
	err = w.Commit(d)
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.False(t, c.Has(d), "nothing partial is published")
}

// The cache folder deleted mid-run: the blob is not cached, nothing fails
// but Commit (with ErrUnavailable), and the next run starts a new cache.
func TestCacheDeletedMidRun(t *testing.T) {
	c := layout(t)
	w, err := c.Create()
	require.NoError(t, err)
	defer w.Abort()
	unlock, err := c.Claim(context.Background(), digest.Of([]byte("x")))
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(c.Dir()))
	_, err = w.Write([]byte("x"))
	assert.NoError(t, err)
	err = w.Commit(digest.Of([]byte("x")))
	assert.ErrorIs(t, err, ErrUnavailable)
	unlock()
	f, err := c.Open(digest.Of([]byte("x")))
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Nil(t, f)
	n, err := c.RemoveStaleTemps()
	assert.NoError(t, err)
	assert.Zero(t, n)
	put(t, c, []byte("x"))
	assert.True(t, c.Has(digest.Of([]byte("x"))))
}

// A cache that cannot be written: Create says so with ErrUnavailable, Claim
// goes on unlocked, reads are misses.
func TestUnwritableCache(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	dirs := map[string]string{"not a folder": filepath.Join(file, "cache")}
	if os.Geteuid() != 0 { // root writes through permissions
		ro := filepath.Join(t.TempDir(), "ro")
		require.NoError(t, os.Mkdir(ro, 0o555))
		dirs["read-only"] = ro
	}
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			c := New(dir)
			d := digest.Of([]byte("x"))
			_, err := c.Create()
			assert.ErrorIs(t, err, ErrUnavailable)
			unlock, err := c.Claim(context.Background(), d)
			require.NoError(t, err, "no lock is no reason to fail")
			unlock()
			_, err = c.Open(d)
			assert.Error(t, err)
			assert.False(t, c.Has(d))
			_, err = c.RemoveStaleTemps()
			assert.True(t, err == nil || errors.Is(err, ErrUnavailable), "%v", err)
		})
	}
}

func TestRemoveStaleTempsKeepsLiveWriter(t *testing.T) {
	c := layout(t)
	live, err := c.Create()
	require.NoError(t, err)
	defer live.Abort()
	_, _ = live.Write([]byte("partial"))
	dead := filepath.Join(c.Dir(), "tmp", ".modelfetch-blob.0123456789ab.tmp")
	require.NoError(t, os.WriteFile(dead, []byte("killed"), 0o600))
	n, err := c.RemoveStaleTemps()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.NoFileExists(t, dead)
	assert.FileExists(t, filepath.Join(c.Dir(), live.name))
	d := digest.Of([]byte("partial"))
	require.NoError(t, live.Commit(d), "the live writer is untouched")
	assert.True(t, c.Has(d))
}

// Clean may remove a claim file while another Claim waits on it; the waiter
// must then lock the file that other processes see, not the removed one.
func TestClaimSurvivesCleanOfItsFile(t *testing.T) {
	c := layout(t)
	d := digest.Of([]byte("x"))
	unlock1, err := c.Claim(context.Background(), d)
	require.NoError(t, err)
	got := make(chan func(), 1)
	go func() {
		u, err := c.Claim(context.Background(), d)
		assert.NoError(t, err)
		got <- u
	}()
	time.Sleep(100 * time.Millisecond) // the second Claim waits on the file
	unlock1()
	_, err = c.Clean() // may remove the file before the waiter locks it
	require.NoError(t, err)
	var unlock2 func()
	testutil.Within(t, 5*time.Second, func() { unlock2 = <-got })
	defer unlock2()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = c.Claim(ctx, d)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the waiter holds the lock everyone sees")
}
