package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

// A legal file name is as long as the filesystem allows (255 bytes); its temp
// file must fit beside it.
func TestCreateTempFitsLongestName(t *testing.T) {
	dir := t.TempDir()
	root := openRoot(t, dir)
	for _, base := range []string{
		strings.Repeat("a", NameMax),
		strings.Repeat("é", NameMax/2) + "x", // 255 bytes of two-byte runes
		"short.bin",
	} {
		f, name, err := CreateTemp(root, ".", base)
		require.NoError(t, err, "base of %d bytes", len(base))
		f.Close()
		assert.LessOrEqual(t, len(name), NameMax)
		assert.True(t, IsTemp(name), name)
		assert.True(t, strings.HasPrefix(name, TempPrefix+base[:min(len(base), 20)]), "recognisable: %s", name)
		assert.True(t, strings.ToValidUTF8(name, "?") == name, "cut at a rune boundary: %q", name)
		f2, name2, err := CreateTemp(root, ".", base)
		require.NoError(t, err)
		f2.Close()
		assert.NotEqual(t, name, name2, "temp names stay unique when cut")
	}
	// The installed name itself is legal here.
	require.NoError(t, os.WriteFile(filepath.Join(dir, strings.Repeat("a", NameMax)), nil, 0o644))
}

func TestRemoveStaleTempsKeepsLiveOnes(t *testing.T) {
	dir := t.TempDir()
	root := openRoot(t, dir)
	live, liveName, err := CreateTemp(root, ".", "model.bin")
	require.NoError(t, err)
	defer live.Close()
	dead := filepath.Join(dir, TempPrefix+"model.bin.dead"+TempSuffix)
	require.NoError(t, os.WriteFile(dead, []byte("half"), 0o444))
	other := filepath.Join(dir, "model.bin")
	require.NoError(t, os.WriteFile(other, []byte("installed"), 0o644))

	n, err := RemoveStaleTemps(root, ".")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.NoFileExists(t, dead, "a killed run's temp file (read-only) is removed")
	assert.FileExists(t, filepath.Join(dir, liveName), "a live temp file is kept")
	assert.FileExists(t, other, "installed files are not temp files")

	n, err = RemoveStaleTemps(root, "missing")
	assert.NoError(t, err, "a folder not made yet holds nothing stale")
	assert.Zero(t, n)
}

// A killed run's temp file may be deep in a root, in a folder of a model the
// next run does not select.
func TestRemoveStaleTempsTree(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	root := openRoot(t, dir)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	deep := filepath.Join(dir, "a", "b", TempPrefix+"x.1"+TempSuffix)
	top := filepath.Join(dir, TempPrefix+"y.2"+TempSuffix)
	for _, p := range []string{deep, top} {
		require.NoError(t, os.WriteFile(p, nil, 0o600))
	}
	live, liveName, err := CreateTemp(root, "a", "z")
	require.NoError(t, err)
	defer live.Close()
	// Neither a symlinked folder nor a symlink with a temp name is followed.
	far := filepath.Join(outside, TempPrefix+"far.3"+TempSuffix)
	require.NoError(t, os.WriteFile(far, []byte("not ours"), 0o600))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "a", "link")))
	require.NoError(t, os.Symlink(far, filepath.Join(dir, TempPrefix+"link.4"+TempSuffix)))
	inRoot := filepath.Join(dir, "a", "b", "installed")
	require.NoError(t, os.WriteFile(inRoot, []byte("good"), 0o644))
	require.NoError(t, os.Symlink(inRoot, filepath.Join(dir, TempPrefix+"link.5"+TempSuffix)))

	n, err := RemoveStaleTempsTree(root, ".")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.NoFileExists(t, deep)
	assert.NoFileExists(t, top)
	assert.FileExists(t, filepath.Join(dir, liveName))
	assert.FileExists(t, far, "nothing outside the root is touched")
	assert.FileExists(t, inRoot, "a symlink's target is not touched")
}

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	require.NoError(t, os.WriteFile(outside, []byte("x"), 0o644))
	root := openRoot(t, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "dir"), 0o755))
	require.NoError(t, os.Symlink("file", filepath.Join(dir, "in-link")))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "out-link")))
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, "zero")))
	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")))

	f, err := OpenRegular(root, "file", os.O_RDONLY, 0)
	require.NoError(t, err)
	f.Close()
	for _, name := range []string{"dir", "in-link", "out-link", "zero"} {
		_, err := OpenRegular(root, name, os.O_RDONLY, 0)
		assert.ErrorIs(t, err, ErrNotRegular, name)
	}
	_, err = OpenRegular(root, "dangling", os.O_RDWR|os.O_CREATE, 0o644)
	assert.ErrorIs(t, err, ErrNotRegular)
	assert.NoFileExists(t, filepath.Join(dir, "nowhere"), "creating through a symlink makes nothing")
	_, err = OpenRegular(root, "out-link", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	assert.ErrorIs(t, err, ErrNotRegular)
	b, _ := os.ReadFile(outside)
	assert.Equal(t, "x", string(b), "nothing outside the root is truncated")
	_, err = OpenRegular(root, "missing", os.O_RDONLY, 0)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
