//go:build unix

package lock

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/pkg/manifest"
)

const two = "version = 1\n# mine\n[models.a]\npath = \"a\"\nurls = [\"https://one/a\"]\n\n[models.b]\npath = \"b\"\nurls = [\"https://one/b\"]\n"

func editsFor(model string, p fakeProbe) []manifest.Edit {
	return []manifest.Edit{
		{Model: model, Source: -1, Key: "sha256", Value: p.sha},
		{Model: model, Source: -1, Key: "size", Value: p.size},
	}
}

type fakeProbe struct {
	sha  string
	size int64
}

var (
	pa = fakeProbe{good.Installed.String(), 4}
	pb = fakeProbe{other.Installed.String(), 5}
)

func setup(t *testing.T) (file, cache string) {
	dir := t.TempDir()
	file = filepath.Join(dir, "models.toml")
	require.NoError(t, os.WriteFile(file, []byte(two), 0o640))
	return file, filepath.Join(t.TempDir(), "cache")
}

// Two lock runs planned from the same text (`lock a` and `lock b` at once):
// the second writer applies its edits to what the first wrote, so neither
// result is lost.
func TestWriteKeepsTheOtherWritersValues(t *testing.T) {
	file, cache := setup(t)
	ra := &Report{Edits: editsFor("a", pa)}
	rb := &Report{Edits: editsFor("b", pb)}
	n, err := ra.Write(context.Background(), file, []byte(two), cache)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = rb.Write(context.Background(), file, []byte(two), cache)
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	m, err := manifest.Load(file)
	require.NoError(t, err)
	assert.Equal(t, pa.sha, m.Model("a").SHA256.String())
	assert.Equal(t, pb.sha, m.Model("b").SHA256.String())
	assert.Equal(t, int64(5), m.Model("b").Size)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	// Nothing but the manifest beside it; the lock lives in the cache.
	des, err := os.ReadDir(filepath.Dir(file))
	require.NoError(t, err)
	require.Len(t, des, 1)
	locks, err := filepath.Glob(filepath.Join(cache, "locks", "*.lock"))
	require.NoError(t, err)
	assert.Len(t, locks, 1)
}

// Many writers at once, each from the original text: every value lands.
func TestConcurrentWriters(t *testing.T) {
	src := "version = 1\n"
	for _, n := range "abcdefgh" {
		src += "[models." + string(n) + "]\npath = \"" + string(n) + "\"\nurls = [\"https://h/x\"]\n"
	}
	file, cache := setup(t)
	require.NoError(t, os.WriteFile(file, []byte(src), 0o644))
	var wg sync.WaitGroup
	for _, n := range "abcdefgh" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &Report{Edits: editsFor(string(n), pa)}
			_, err := r.Write(context.Background(), file, []byte(src), cache)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	m, err := manifest.Load(file)
	require.NoError(t, err)
	for _, mod := range m.Models {
		assert.Equal(t, pa.sha, mod.SHA256.String(), mod.Name)
	}
}

// A value another writer recorded differently is kept and reported.
func TestWriteConflict(t *testing.T) {
	file, cache := setup(t)
	_, err := (&Report{Edits: editsFor("a", pa)}).Write(context.Background(), file, []byte(two), cache)
	require.NoError(t, err)
	r := &Report{Edits: append(editsFor("a", pb), editsFor("b", pb)...)}
	n, err := r.Write(context.Background(), file, []byte(two), cache)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "only b's values")
	require.Len(t, r.Findings, 2)
	assert.Equal(t, "a: serves sha256 "+pb.sha+", the manifest records "+pa.sha+" (kept)", r.Findings[0].String())
	assert.Equal(t, OutcomeIntegrity, r.Outcome())
	m, err := manifest.Load(file)
	require.NoError(t, err)
	assert.Equal(t, pa.sha, m.Model("a").SHA256.String())
}

// A cache that cannot hold the lock (here a file where its folder should be)
// does not stop the write.
func TestWriteWithABrokenCache(t *testing.T) {
	file, cache := setup(t)
	require.NoError(t, os.WriteFile(cache, nil, 0o644))
	r := &Report{Edits: editsFor("a", pa)}
	n, err := r.Write(context.Background(), file, []byte(two), cache)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}

func TestWriteWaitsForTheLock(t *testing.T) {
	file, cache := setup(t)
	real, err := filepath.EvalSymlinks(file)
	require.NoError(t, err)
	unlock, err := lockFile(context.Background(), cache, real)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = (&Report{Edits: editsFor("a", pa)}).Write(ctx, file, []byte(two), cache)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	b, _ := os.ReadFile(file)
	assert.Equal(t, two, string(b), "nothing written without the lock")

	done := make(chan error)
	go func() {
		_, err := (&Report{Edits: editsFor("a", pa)}).Write(context.Background(), file, []byte(two), cache)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	unlock()
	require.NoError(t, <-done)
}

// A lock file that is a symlink or a FIFO is replaced, never followed:
// nothing is created outside the cache, nothing blocks, and the values are
// written.
func TestHostileLockFile(t *testing.T) {
	for _, kind := range []string{"symlink", "fifo"} {
		t.Run(kind, func(t *testing.T) {
			file, cache := setup(t)
			real, err := filepath.EvalSymlinks(file)
			require.NoError(t, err)
			require.NoError(t, os.MkdirAll(filepath.Join(cache, "locks"), 0o755))
			unlock, err := lockFile(context.Background(), cache, real)
			require.NoError(t, err)
			unlock()
			locks, _ := filepath.Glob(filepath.Join(cache, "locks", "*.lock"))
			require.Len(t, locks, 1)
			require.NoError(t, os.Remove(locks[0]))
			outside := filepath.Join(t.TempDir(), "outside")
			if kind == "symlink" {
				require.NoError(t, os.Symlink(outside, locks[0]))
			} else {
				require.NoError(t, syscall.Mkfifo(locks[0], 0o644))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r := &Report{Edits: editsFor("a", pa)}
			n, err := r.Write(ctx, file, []byte(two), cache)
			require.NoError(t, err)
			assert.Equal(t, 2, n)
			assert.NoFileExists(t, outside)
		})
	}
}

// A killed lock leaves its temp beside the manifest: the next write removes
// it, and leaves a live writer's temp (held locked), a recent temp of the
// older naming, and every other file alone.
func TestWriteRemovesTheTempsOfKilledRuns(t *testing.T) {
	for _, edits := range []bool{true, false} {
		file, cache := setup(t)
		dir := filepath.Dir(file)
		root, err := os.OpenRoot(dir)
		require.NoError(t, err)
		defer root.Close()
		live, liveName, err := fsutil.CreateTemp(root, ".", "models.toml")
		require.NoError(t, err)
		defer live.Close()
		dead, deadName, err := fsutil.CreateTemp(root, ".", "models.toml")
		require.NoError(t, err)
		dead.Close() // its run was killed: nobody holds it
		old := time.Now().Add(-2 * legacyTempAge)
		for _, name := range []string{".models.toml.123456.tmp", ".models.toml.98.tmp", "notes.txt"} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600))
		}
		require.NoError(t, os.Chtimes(filepath.Join(dir, ".models.toml.123456.tmp"), old, old))
		require.NoError(t, os.Chtimes(filepath.Join(dir, "notes.txt"), old, old))

		r := &Report{}
		if edits {
			r.Edits = editsFor("a", pa)
		}
		_, err = r.Write(context.Background(), file, []byte(two), cache)
		require.NoError(t, err)
		var names []string
		des, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, de := range des {
			names = append(names, de.Name())
		}
		assert.ElementsMatch(t, []string{"models.toml", liveName, ".models.toml.98.tmp", "notes.txt"}, names, "edits: %v", edits)
		assert.NotContains(t, names, deadName)
	}
}
