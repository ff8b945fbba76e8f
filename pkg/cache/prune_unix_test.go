//go:build unix

package cache

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
)

func TestPrune(t *testing.T) {
	for _, tt := range []struct {
		name      string
		keepFirst bool
		left      int
	}{
		{name: "keeps what the caller names", keepFirst: true, left: 1},
		{name: "nil keep removes every blob", keepFirst: false, left: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := New(t.TempDir())
			kept := put(t, c, []byte("kept"))
			put(t, c, []byte("gone!"))
			var keep map[digest.Digest]bool
			if tt.keepFirst {
				keep = map[digest.Digest]bool{kept: true}
			}
			r, err := c.Prune(keep)
			require.NoError(t, err)
			entries, err := c.List()
			require.NoError(t, err)
			assert.Len(t, entries, tt.left)
			assert.Equal(t, 2-tt.left, r.Blobs)
			if tt.keepFirst {
				assert.Equal(t, int64(5), r.Freed)
				assert.Equal(t, kept, entries[0].Digest)
			}
		})
	}
}

func TestVerifyAllRemovesOnlyBadBytes(t *testing.T) {
	c := New(t.TempDir())
	good := put(t, c, []byte("good"))
	bad := put(t, c, []byte("soon bad"))
	p := c.BlobPath(bad)
	require.NoError(t, os.Chmod(p, 0o644))
	require.NoError(t, os.WriteFile(p, []byte("soon BAD"), 0o644))

	checked, found, err := c.VerifyAll(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, checked)
	require.Len(t, found, 1)
	assert.Equal(t, bad, found[0].Digest)
	assert.True(t, found[0].Removed)
	assert.True(t, c.Has(good))
	assert.False(t, c.Has(bad))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = c.VerifyAll(ctx)
	assert.ErrorIs(t, err, context.Canceled, "an interrupted check removes nothing more")
	assert.True(t, c.Has(good))
}

// Entries that are not regular files (a symlink to /dev/zero, a FIFO) are
// what List cannot list: verify and prune remove them all the same, without
// opening them, and verify counts each as checked.
func TestDamagedEntriesAreRemoved(t *testing.T) {
	for _, run := range []string{"verify", "prune"} {
		t.Run(run, func(t *testing.T) {
			c := New(t.TempDir())
			d := digest.Of([]byte("x"))
			p := c.BlobPath(d)
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.Symlink("/dev/zero", p))
			fifo := filepath.Join(filepath.Dir(p), digest.Of([]byte("y")).String())
			require.NoError(t, syscall.Mkfifo(fifo, 0o644))
			if run == "verify" {
				checked, bad, err := c.VerifyAll(context.Background())
				require.NoError(t, err)
				require.Len(t, bad, 2)
				assert.Equal(t, 2, checked, "a bad entry is a checked one")
				for _, b := range bad {
					assert.True(t, b.Removed)
					assert.ErrorIs(t, b.Err, ErrDamaged)
				}
			} else {
				r, err := c.Prune(nil)
				require.NoError(t, err)
				assert.Equal(t, 2, r.Stale)
			}
			assert.NoFileExists(t, p)
			assert.NoFileExists(t, fifo)
		})
	}
}

// TestJunkIsListedAndPruned: names under blobs/sha256 that are not a
// sha256 are junk: listed, and removed by Prune whatever they are, a link
// without following it, a folder with what it holds.
func TestJunkIsListedAndPruned(t *testing.T) {
	c := New(t.TempDir())
	kept := put(t, c, []byte("kept"))
	blobs := filepath.Dir(c.BlobPath(kept))
	outside := filepath.Join(t.TempDir(), "precious")
	require.NoError(t, os.WriteFile(outside, []byte("precious"), 0o644))
	upper := strings.ToUpper(digest.Of([]byte("z")).String())
	require.NoError(t, os.WriteFile(filepath.Join(blobs, "notes.txt"), []byte("n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(blobs, upper), []byte("uu"), 0o444))
	require.NoError(t, os.Symlink(outside, filepath.Join(blobs, "link")))
	require.NoError(t, os.Mkdir(filepath.Join(blobs, "dir"), 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(blobs, "dir", "inner")))

	junk, err := c.Junk()
	require.NoError(t, err)
	byName := map[string]JunkEntry{}
	for _, j := range junk {
		byName[j.Name] = j
	}
	assert.Len(t, byName, 4)
	assert.Equal(t, int64(1), byName["notes.txt"].Size)
	assert.Equal(t, int64(2), byName[upper].Size)
	assert.Equal(t, os.ModeSymlink, byName["link"].Type)
	assert.Equal(t, int64(-1), byName["link"].Size)
	assert.True(t, byName["dir"].Type.IsDir())

	r, err := c.Prune(map[digest.Digest]bool{kept: true})
	require.NoError(t, err)
	assert.Equal(t, 4, r.Junk)
	assert.Equal(t, 0, r.Blobs)
	left, err := os.ReadDir(blobs)
	require.NoError(t, err)
	require.Len(t, left, 1)
	assert.Equal(t, kept.String(), left[0].Name())
	b, err := os.ReadFile(outside)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(b), "a link's target is untouched")
	junk, err = c.Junk()
	require.NoError(t, err)
	assert.Empty(t, junk)
}

// Entries named by a sha256 that are not regular files are listed as
// damaged (cache ls left them out), and Prune removes them, a link without
// following it.
func TestDamagedIsListedAndPruned(t *testing.T) {
	c := New(t.TempDir())
	kept := put(t, c, []byte("kept"))
	blobs := filepath.Dir(c.BlobPath(kept))
	outside := filepath.Join(t.TempDir(), "precious")
	require.NoError(t, os.WriteFile(outside, []byte("precious"), 0o644))
	link, fifo := digest.Of([]byte("l")).String(), digest.Of([]byte("f")).String()
	require.NoError(t, os.Symlink(outside, filepath.Join(blobs, link)))
	require.NoError(t, syscall.Mkfifo(filepath.Join(blobs, fifo), 0o644))
	damaged, err := c.Damaged()
	require.NoError(t, err)
	byName := map[string]JunkEntry{}
	for _, d := range damaged {
		byName[d.Name] = d
	}
	require.Len(t, byName, 2)
	assert.Equal(t, os.ModeSymlink, byName[link].Type)
	assert.Equal(t, os.ModeNamedPipe, byName[fifo].Type)
	junk, err := c.Junk()
	require.NoError(t, err)
	assert.Empty(t, junk, "named by a sha256: damaged, not junk")
	_, err = c.Prune(map[digest.Digest]bool{kept: true})
	require.NoError(t, err)
	damaged, err = c.Damaged()
	require.NoError(t, err)
	assert.Empty(t, damaged)
	assert.FileExists(t, outside)
}
