package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
)

// Entries named by a sha256 that are not regular files (a symlink, a
// folder) are listed by ls as damaged; before, ls left them out.
func TestCacheLsListsDamagedEntries(t *testing.T) {
	dir := t.TempDir()
	blobs := filepath.Dir(putBlob(t, dir, "kept"))
	link, folder := digest.Of([]byte("l")).String(), digest.Of([]byte("d")).String()
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(blobs, link)))
	require.NoError(t, os.Mkdir(filepath.Join(blobs, folder), 0o755))

	code, stdout, stderr := runCache(t, dir, "cache", "ls")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, "(?m)^"+link+" +- +damaged \\(symlink, not a regular file\\)$", stdout)
	assert.Regexp(t, "(?m)^"+folder+" +- +damaged \\(folder, not a regular file\\)$", stdout)
	assert.Contains(t, stdout, "2 damaged entries")
	assert.Contains(t, stdout, "1 blob")

	code, _, stderr = runCache(t, dir, "cache", "prune", "--all")
	require.Equal(t, 0, code, stderr)
	code, stdout, _ = runCache(t, dir, "cache", "ls")
	require.Equal(t, 0, code)
	assert.NotContains(t, stdout, "damaged")
}
