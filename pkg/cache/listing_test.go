package cache

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
)

// A listing names each blob by its models, sorted, counts the total and
// lists the junk; the caller's names are left as they were.
func TestListing(t *testing.T) {
	c := New(t.TempDir())
	var ds []digest.Digest
	for _, b := range []string{"one", "three"} {
		w, err := c.Create()
		require.NoError(t, err)
		_, err = w.Write([]byte(b))
		require.NoError(t, err)
		d := digest.Of([]byte(b))
		require.NoError(t, w.Commit(d))
		ds = append(ds, d)
	}
	require.NoError(t, os.WriteFile(filepath.Join(c.Dir(), blobDir, "junk"), []byte("x"), 0o644))
	names := map[digest.Digest][]string{ds[0]: {"z", "a"}}
	l, err := c.Listing(names)
	require.NoError(t, err)
	assert.Equal(t, int64(8), l.Total)
	require.Len(t, l.Blobs, 2)
	for _, b := range l.Blobs {
		if b.Digest == ds[0] {
			assert.Equal(t, []string{"a", "z"}, b.Models)
		} else {
			assert.Empty(t, b.Models)
		}
	}
	assert.Equal(t, []string{"z", "a"}, names[ds[0]], "the caller's names are not sorted in place")
	require.Len(t, l.Junk, 1)
	assert.Equal(t, "junk", l.Junk[0].Name)
	assert.Equal(t, map[digest.Digest]bool{ds[0]: true}, Keep(names))
}
