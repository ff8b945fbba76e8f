package cache

import (
	"os"
	"path/filepath"
	"strings"
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

// TestListingClassifiesEveryEntryOnce: in one folder with every kind of
// entry, each lands in exactly one of the listing's parts, and those parts
// are what List, Junk and Damaged say on their own.
func TestListingClassifiesEveryEntryOnce(t *testing.T) {
	c := New(t.TempDir())
	w, err := c.Create()
	require.NoError(t, err)
	_, err = w.Write([]byte("blob"))
	require.NoError(t, err)
	good := digest.Of([]byte("blob"))
	require.NoError(t, w.Commit(good))
	dir := filepath.Join(c.Dir(), blobDir)
	hexDir := digest.Of([]byte("a folder")).String()
	require.NoError(t, os.Mkdir(filepath.Join(dir, hexDir), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b-junk"), []byte("xyz"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "a-junk-dir"), 0o755))
	upper := strings.ToUpper(digest.Of([]byte("upper")).String())
	require.NoError(t, os.WriteFile(filepath.Join(dir, upper), []byte("u"), 0o644))

	l, err := c.Listing(nil)
	require.NoError(t, err)
	require.Len(t, l.Blobs, 1)
	assert.Equal(t, good, l.Blobs[0].Digest)
	assert.Equal(t, int64(4), l.Total)
	var junk []string
	for _, j := range l.Junk {
		junk = append(junk, j.Name)
	}
	assert.Equal(t, []string{upper, "a-junk-dir", "b-junk"}, junk, "in name order; a digest in upper case is not one")
	assert.Equal(t, int64(-1), l.Junk[1].Size, "a folder has no size")
	assert.Equal(t, int64(3), l.Junk[2].Size)
	require.Len(t, l.Damaged, 1)
	assert.Equal(t, hexDir, l.Damaged[0].Name)
	assert.True(t, l.Damaged[0].Type.IsDir())
	assert.Equal(t, int64(-1), l.Damaged[0].Size)

	list, err := c.List()
	require.NoError(t, err)
	assert.Equal(t, []Entry{l.Blobs[0].Entry}, list)
	j, err := c.Junk()
	require.NoError(t, err)
	assert.Equal(t, l.Junk, j)
	d, err := c.Damaged()
	require.NoError(t, err)
	assert.Equal(t, l.Damaged, d)
}

// TestListingOfNoCache: a cache that does not exist lists nothing, and is
// no error.
func TestListingOfNoCache(t *testing.T) {
	l, err := New(filepath.Join(t.TempDir(), "none")).Listing(nil)
	require.NoError(t, err)
	assert.Equal(t, Listing{}, l)
}
