// Package cache is a content-addressed store of verified model files, keyed by
// the SHA-256 of their installed bytes.
//
// Layout under the cache folder:
//
//	blobs/sha256/<hex>   verified blobs, read-only (0444)
//	tmp/                 blobs being written (temp file, locked while written)
//	locks/<hex>.lock     one lock per digest, so processes sharing the cache
//	                     download each blob once
//
// A blob appears under its final name only by rename after verification, so a
// killed writer leaves at most a temp file, which the next writer removes.
// Several processes may share one cache; where the filesystem cannot lock,
// each process still ends correct (it may download a blob twice).
package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gofrs/flock"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/pkg/digest"
)

// Cache is a cache folder. The zero value is not usable; call New.
type Cache struct {
	dir string
	// NoLock skips the per-digest lock, as on a filesystem without flock:
	// processes may then download a blob twice, but every blob stays whole.
	NoLock bool
}

// New returns the cache at dir. Nothing is created until something is written.
func New(dir string) *Cache { return &Cache{dir: dir} }

// Dir returns the cache folder.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) blobDir() string { return filepath.Join(c.dir, "blobs", "sha256") }
func (c *Cache) tmpDir() string  { return filepath.Join(c.dir, "tmp") }
func (c *Cache) lockDir() string { return filepath.Join(c.dir, "locks") }

// BlobPath returns where the blob for d lives (whether or not it exists).
func (c *Cache) BlobPath(d digest.Digest) string { return filepath.Join(c.blobDir(), d.String()) }

// Open opens the blob for d; the error matches fs.ErrNotExist when it is absent.
func (c *Cache) Open(d digest.Digest) (*os.File, error) {
	return os.Open(c.BlobPath(d))
}

// Has reports whether a blob for d exists (without verifying it).
func (c *Cache) Has(d digest.Digest) bool {
	fi, err := os.Stat(c.BlobPath(d))
	return err == nil && fi.Mode().IsRegular()
}

func (c *Cache) mkdirs() error {
	for _, d := range []string{c.blobDir(), c.tmpDir(), c.lockDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cache: %w", err)
		}
	}
	return nil
}

// Lock takes the lock for d, waiting until it is free or ctx is done. Hold it
// while downloading d so other processes wait and then find the blob. Where
// the filesystem has no locks, Lock succeeds without locking.
func (c *Cache) Lock(ctx context.Context, d digest.Digest) (unlock func(), err error) {
	if err := c.mkdirs(); err != nil {
		return nil, err
	}
	if c.NoLock {
		return func() {}, nil
	}
	l := flock.New(filepath.Join(c.lockDir(), d.String()+".lock"))
	ok, err := l.TryLockContext(ctx, 50*time.Millisecond)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// No locking here (e.g. some network filesystems): go on unlocked;
		// temp+rename still keeps every blob whole.
		return func() {}, nil
	}
	if !ok {
		return nil, ctx.Err()
	}
	return func() { _ = l.Unlock() }, nil
}

// Writer receives a blob's bytes; Commit verifies nothing (the caller has) and
// publishes them under the digest.
type Writer struct {
	c    *Cache
	f    *os.File
	name string
}

// Create starts a new blob in the cache's temp folder.
func (c *Cache) Create() (*Writer, error) {
	if err := c.mkdirs(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(c.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	defer root.Close()
	// Locked while we live, so a concurrent Clean leaves it alone.
	f, name, err := fsutil.CreateTemp(root, ".", "blob")
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Writer{c: c, f: f, name: filepath.Join(c.tmpDir(), name)}, nil
}

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) { return w.f.Write(p) }

// Reset discards what was written, to start the blob again.
func (w *Writer) Reset() error {
	if err := w.f.Truncate(0); err != nil {
		return err
	}
	_, err := w.f.Seek(0, io.SeekStart)
	return err
}

// Commit makes the written bytes the blob for d.
func (w *Writer) Commit(d digest.Digest) error {
	f := w.f
	if err := f.Sync(); err != nil {
		return w.fail(err)
	}
	if err := f.Chmod(0o444); err != nil {
		return w.fail(err)
	}
	if err := os.Rename(w.name, w.c.BlobPath(d)); err != nil {
		return w.fail(err)
	}
	w.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	syncDir(w.c.blobDir())
	return nil
}

func (w *Writer) fail(err error) error {
	w.Abort()
	return fmt.Errorf("cache: %w", err)
}

// Abort removes the temp file. It is safe after Commit (it does nothing).
func (w *Writer) Abort() {
	if w.f == nil {
		return
	}
	w.f.Close()
	os.Remove(w.name)
	w.f = nil
}

// Entry is one blob in the cache.
type Entry struct {
	Digest  digest.Digest
	Size    int64
	ModTime time.Time
}

// List returns the blobs, sorted by digest. Files that are not named by a
// digest are skipped.
func (c *Cache) List() ([]Entry, error) {
	des, err := os.ReadDir(c.blobDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	var out []Entry
	for _, de := range des {
		d, err := digest.Parse(de.Name())
		if err != nil || !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		out = append(out, Entry{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest.String() < out[j].Digest.String() })
	return out, nil
}

// Verify re-hashes the blob for d. A *digest.MismatchError means it is corrupt.
func (c *Cache) Verify(ctx context.Context, d digest.Digest) error {
	f, err := c.Open(d)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, digest.NewReader(ctxReader{ctx, f}, d, -1))
	return err
}

// Remove deletes the blob for d; a missing blob is not an error.
func (c *Cache) Remove(d digest.Digest) error {
	err := os.Remove(c.BlobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Clean removes the temp files of killed runs and lock files nobody holds.
// It returns how many files it removed.
func (c *Cache) Clean() (int, error) {
	n := 0
	if root, err := os.OpenRoot(c.tmpDir()); err == nil {
		m, err := fsutil.RemoveStaleTemps(root, ".")
		root.Close()
		n += m
		if err != nil {
			return n, err
		}
	}
	des, err := os.ReadDir(c.lockDir())
	if err != nil {
		return n, nil
	}
	for _, de := range des {
		p := filepath.Join(c.lockDir(), de.Name())
		l := flock.New(p)
		if ok, err := l.TryLock(); err == nil && ok {
			if os.Remove(p) == nil {
				n++
			}
			_ = l.Unlock()
		}
	}
	return n, nil
}

// ctxReader stops a long read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
