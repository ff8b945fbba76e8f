package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// putBlob stores b in the cache at dir and returns its path.
func putBlob(t *testing.T, dir, b string) string {
	c := cache.New(dir)
	d := digest.Of([]byte(b))
	w, err := c.Create()
	require.NoError(t, err)
	_, err = w.Write([]byte(b))
	require.NoError(t, err)
	require.NoError(t, w.Commit(d))
	return c.BlobPath(d)
}

// runCache runs modelfetch with args against the cache at dir.
func runCache(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	e := env{Cache: dir, Manifest: filepath.Join(t.TempDir(), "models.toml"), IsTerminal: func() bool { return false }}
	code = run(context.Background(), args, &out, &errOut, e)
	return code, out.String(), errOut.String()
}

// TestCacheVerifyCountsEveryEntry: an entry that is bad is one that was
// checked (it printed "2 blobs checked, 3 bad").
func TestCacheVerifyCountsEveryEntry(t *testing.T) {
	dir := t.TempDir()
	putBlob(t, dir, "good")
	bad := putBlob(t, dir, "soon bad")
	require.NoError(t, os.Chmod(bad, 0o644))
	require.NoError(t, os.WriteFile(bad, []byte("soon BAD"), 0o644))
	blobs := filepath.Dir(bad)
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(blobs, digest.Of([]byte("x")).String())))
	require.NoError(t, os.Mkdir(filepath.Join(blobs, digest.Of([]byte("y")).String()), 0o755))

	code, stdout, stderr := runCache(t, dir, "cache", "verify")
	assert.Equal(t, 3, code, stderr)
	assert.Equal(t, "4 blobs checked, 3 bad\n", stdout)
	assert.Equal(t, 3, strings.Count(stderr, "modelfetch: error: cache: "), stderr)
}

// TestCacheJunkIsListedAndPruned: names under blobs/sha256 that are not a
// sha256 are shown by ls and removed by prune, a link without following it.
func TestCacheJunkIsListedAndPruned(t *testing.T) {
	dir := t.TempDir()
	kept := putBlob(t, dir, "kept")
	blobs := filepath.Dir(kept)
	outside := filepath.Join(t.TempDir(), "precious")
	require.NoError(t, os.WriteFile(outside, []byte("precious"), 0o644))
	junk := []string{"notes.txt", strings.ToUpper(digest.Of([]byte("z")).String()), "link"}
	require.NoError(t, os.WriteFile(filepath.Join(blobs, junk[0]), []byte("n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(blobs, junk[1]), []byte("u"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(blobs, junk[2])))

	code, stdout, stderr := runCache(t, dir, "cache", "ls")
	require.Equal(t, 0, code, stderr)
	for _, j := range junk {
		assert.Regexp(t, "(?m)^"+j+" .*junk", stdout)
	}
	assert.Contains(t, stdout, "3 junk entries")

	code, _, stderr = runCache(t, dir, "cache", "prune", "--all")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "3 junk entries")
	for _, j := range junk {
		assert.NoFileExists(t, filepath.Join(blobs, j))
	}
	b, err := os.ReadFile(outside)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(b), "the link's target is untouched")
	code, stdout, _ = runCache(t, dir, "cache", "ls")
	require.Equal(t, 0, code)
	assert.NotContains(t, stdout, "junk")
}

// TestLockedDigestsNamesEveryLockedModel: what ls labels and prune keeps.
func TestLockedDigestsNamesEveryLockedModel(t *testing.T) {
	mf := filepath.Join(t.TempDir(), "models.toml")
	require.NoError(t, os.WriteFile(mf, []byte(`version = 1
[dirs]
models = "out"
[models.a]
path = "a"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
size = 0
urls = ["https://example.com/a"]
[models.c]
path = "c"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
size = 0
urls = ["https://example.com/c"]
[models.b]
path = "b"
urls = ["https://example.com/b"]
`), 0o644))
	m, err := manifest.Load(mf)
	require.NoError(t, err)
	got := m.LockedDigests()
	assert.Len(t, got, 1, "an unlocked model names no blob")
	assert.ElementsMatch(t, []string{"a", "c"}, got[m.Models[0].SHA256])
}
