package prune

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// put stores b in c and returns its digest.
func put(t *testing.T, c *cache.Cache, b string) digest.Digest {
	d := digest.Of([]byte(b))
	w, err := c.Create()
	require.NoError(t, err)
	_, err = w.Write([]byte(b))
	require.NoError(t, err)
	require.NoError(t, w.Commit(d))
	return d
}

func TestKeepNamesEveryLockedModel(t *testing.T) {
	dir := t.TempDir()
	mf := filepath.Join(dir, "models.toml")
	require.NoError(t, os.WriteFile(mf, []byte(`version = 1
[dirs]
models = "out"
[models.a]
path = "a"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
size = 0
urls = ["https://example.com/a"]
[models.b]
path = "b"
urls = ["https://example.com/b"]
`), 0o644))
	m, err := manifest.Load(mf)
	require.NoError(t, err)
	keep := Keep(m)
	assert.Len(t, keep, 1, "an unlocked model names no blob")
	assert.True(t, keep[m.Models[0].SHA256])
}

func TestRun(t *testing.T) {
	for _, tt := range []struct {
		name      string
		keepFirst bool
		left      int
	}{
		{name: "keeps what the manifest names", keepFirst: true, left: 1},
		{name: "nil keep removes every blob", keepFirst: false, left: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := cache.New(t.TempDir())
			kept := put(t, c, "kept")
			put(t, c, "gone!")
			var keep map[digest.Digest]bool
			if tt.keepFirst {
				keep = map[digest.Digest]bool{kept: true}
			}
			r, err := Run(c, keep)
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

func TestCorruptRemovesOnlyBadBytes(t *testing.T) {
	c := cache.New(t.TempDir())
	good := put(t, c, "good")
	bad := put(t, c, "soon bad")
	p := c.BlobPath(bad)
	require.NoError(t, os.Chmod(p, 0o644))
	require.NoError(t, os.WriteFile(p, []byte("soon BAD"), 0o644))

	checked, found, err := Corrupt(context.Background(), c)
	require.NoError(t, err)
	assert.Equal(t, 2, checked)
	require.Len(t, found, 1)
	assert.Equal(t, bad, found[0].Digest)
	assert.True(t, found[0].Removed)
	assert.True(t, c.Has(good))
	assert.False(t, c.Has(bad))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = Corrupt(ctx, c)
	assert.ErrorIs(t, err, context.Canceled, "an interrupted check removes nothing more")
	assert.True(t, c.Has(good))
}

// Entries that are not regular files (a symlink to /dev/zero, a FIFO) are
// what `cache ls` cannot list: verify and prune remove them all the same,
// without opening them.
func TestDamagedEntriesAreRemoved(t *testing.T) {
	for _, run := range []string{"verify", "prune"} {
		t.Run(run, func(t *testing.T) {
			c := cache.New(t.TempDir())
			d := digest.Of([]byte("x"))
			p := c.BlobPath(d)
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.Symlink("/dev/zero", p))
			fifo := filepath.Join(filepath.Dir(p), digest.Of([]byte("y")).String())
			require.NoError(t, syscall.Mkfifo(fifo, 0o644))
			if run == "verify" {
				_, bad, err := Corrupt(context.Background(), c)
				require.NoError(t, err)
				require.Len(t, bad, 2)
				for _, b := range bad {
					assert.True(t, b.Removed)
					assert.ErrorIs(t, b.Err, cache.ErrDamaged)
				}
			} else {
				r, err := Run(c, nil)
				require.NoError(t, err)
				assert.Equal(t, 2, r.Stale)
			}
			assert.NoFileExists(t, p)
			assert.NoFileExists(t, fifo)
		})
	}
}
