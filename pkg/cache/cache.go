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
// killed writer leaves at most a temp file, which RemoveStaleTemps removes.
// Several processes may share one cache; where the filesystem cannot lock,
// each process still ends correct (it may download a blob twice).
//
// The cache is best-effort: nothing it does may fail an install that could
// succeed without it. Every file is opened inside the cache folder (os.Root),
// without following a symlink in its last component and without blocking on a
// FIFO or device, and must be a regular file. So:
//
//   - a blob that is not a regular file (a symlink, a FIFO) is a miss: Open
//     fails with an error matching both ErrDamaged and fs.ErrNotExist;
//   - a cache that cannot be written (read-only, full, deleted) makes Create
//     or Commit fail with an error matching ErrUnavailable, and a Writer's
//     Write never fails (see Writer);
//   - Lock fails only when ctx is done: a lock file it cannot use means going
//     on unlocked.
package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/pkg/digest"
)

// ErrUnavailable marks an error of a cache that cannot be used as a store
// (read-only, full, deleted, not a folder): the caller warns and goes on
// without caching.
var ErrUnavailable = errors.New("cache unavailable")

// ErrDamaged marks a cache entry that is not a regular file (a symlink, a
// FIFO, a device, a folder). It also matches fs.ErrNotExist, so a caller that
// treats an absent blob as a miss treats a damaged one the same way.
var ErrDamaged error = damagedError{}

type damagedError struct{}

func (damagedError) Error() string        { return "damaged entry (not a regular file)" }
func (damagedError) Is(target error) bool { return target == fs.ErrNotExist }

// Paths inside the cache folder.
const (
	blobDir = "blobs/sha256"
	tmpDir  = "tmp"
	lockDir = "locks"
)

// lockPoll is how often Lock tries again while another process holds the lock.
const lockPoll = 50 * time.Millisecond

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

func blobName(d digest.Digest) string { return path.Join(blobDir, d.String()) }

// BlobPath returns where the blob for d lives (whether or not it exists).
func (c *Cache) BlobPath(d digest.Digest) string {
	return filepath.Join(c.dir, filepath.FromSlash(blobName(d)))
}

func (c *Cache) unavailable(err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, c.dir, err)
}

// open opens the cache folder for reading; it may not exist.
func (c *Cache) open() (*os.Root, error) {
	r, err := os.OpenRoot(c.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		err = c.unavailable(err)
	}
	return r, err
}

// make creates the layout (as far as it is missing) and opens the folder.
func (c *Cache) make() (*os.Root, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, c.unavailable(err)
	}
	root, err := os.OpenRoot(c.dir)
	if err != nil {
		return nil, c.unavailable(err)
	}
	for _, d := range []string{blobDir, tmpDir, lockDir} {
		if err := root.MkdirAll(d, 0o755); err != nil {
			root.Close()
			return nil, c.unavailable(err)
		}
	}
	return root, nil
}

// Open opens the blob for d. An absent blob gives an error matching
// fs.ErrNotExist; an entry that is not a regular file one matching ErrDamaged
// (and fs.ErrNotExist); any other error matches ErrUnavailable. Every error is
// a miss: the blob is fetched from its sources. Open checks neither size nor
// digest.
func (c *Cache) Open(d digest.Digest) (*os.File, error) {
	root, err := c.open()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := fsutil.OpenRegular(root, blobName(d), os.O_RDONLY, 0)
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, fsutil.ErrNotRegular):
		return nil, fmt.Errorf("cache: %s: %w", c.BlobPath(d), ErrDamaged)
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	default:
		return nil, c.unavailable(err)
	}
}

// Has reports whether a blob for d exists as a regular file (without
// verifying it).
func (c *Cache) Has(d digest.Digest) bool {
	root, err := c.open()
	if err != nil {
		return false
	}
	defer root.Close()
	fi, err := root.Lstat(blobName(d))
	return err == nil && fi.Mode().IsRegular()
}

// Lock takes the lock for d, waiting until it is free or ctx is done. Hold it
// while downloading d so other processes wait and then find the blob. It
// fails only with ctx's error: where the lock cannot be taken (no locks on
// this filesystem, a cache that cannot be written) it returns at once without
// locking, since temp+rename keeps every blob whole anyway. A lock file that
// is not a regular file (a symlink, a FIFO) is replaced, never followed.
func (c *Cache) Lock(ctx context.Context, d digest.Digest) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	noop := func() {}
	if c.NoLock {
		return noop, nil
	}
	root, err := c.make()
	if err != nil {
		return noop, nil
	}
	defer root.Close()
	name := path.Join(lockDir, d.String()+".lock")
	for attempt := 0; attempt < 10; attempt++ {
		f, err := openLockFile(root, name)
		if err != nil {
			return noop, nil
		}
		held, err := waitLock(ctx, f)
		if err != nil {
			f.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return noop, nil
		}
		if held && sameFile(root, name, f) {
			return func() { f.Close() }, nil // closing lets go of the lock
		}
		// Clean removed the file while we waited: what we hold locks
		// nothing any other process can see. Lock the new one.
		f.Close()
	}
	return noop, nil // the lock file keeps changing under us: go on unlocked
}

// openLockFile opens (or creates) the lock file name, replacing an entry that
// is not a regular file.
func openLockFile(root *os.Root, name string) (*os.File, error) {
	for attempt := 0; ; attempt++ {
		f, err := fsutil.OpenRegular(root, name, os.O_RDWR|os.O_CREATE, 0o644)
		if errors.Is(err, fs.ErrPermission) || isReadOnly(err) {
			// flock needs no write access: a read-only cache still locks.
			f, err = fsutil.OpenRegular(root, name, os.O_RDONLY, 0)
		}
		if errors.Is(err, fsutil.ErrNotRegular) && attempt == 0 {
			_ = root.Remove(name)
			continue
		}
		return f, err
	}
}

// waitLock tries to lock f until it holds it or ctx is done.
func waitLock(ctx context.Context, f *os.File) (bool, error) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		ok, err := fsutil.TryLock(f)
		if ok || err != nil {
			return ok, err
		}
		t.Reset(lockPoll)
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
		}
	}
}

// sameFile reports whether name still leads to the open file f.
func sameFile(root *os.Root, name string, f *os.File) bool {
	fi, err1 := f.Stat()
	named, err2 := root.Lstat(name)
	return err1 == nil && err2 == nil && os.SameFile(fi, named)
}

// Writer receives a blob's bytes; Commit verifies nothing (the caller has) and
// publishes them under the digest.
//
// A Writer never fails the stream it is part of: when the cache cannot take
// the bytes (disk full, folder deleted), Write records the error, removes the
// temp file at once (freeing its space) and from then on discards what it is
// given, still reporting success; Reset does the same. Err reports the
// recorded error, and Commit returns it (matching ErrUnavailable) without
// publishing anything. So a caller can write the install file and the cache
// through one io.MultiWriter and learn afterwards, from Commit, whether the
// blob was cached.
type Writer struct {
	c    *Cache
	root *os.Root
	f    *os.File
	name string // under root
	err  error  // the first failure; once set, bytes are discarded
}

// Create starts a new blob in the cache's temp folder. An error matches
// ErrUnavailable: go on without caching.
func (c *Cache) Create() (*Writer, error) {
	root, err := c.make()
	if err != nil {
		return nil, err
	}
	// Locked while we live, so a concurrent sweep leaves it alone.
	f, name, err := fsutil.CreateTemp(root, tmpDir, "blob")
	if err != nil {
		root.Close()
		return nil, c.unavailable(err)
	}
	return &Writer{c: c, root: root, f: f, name: name}, nil
}

// Write implements io.Writer. It always reports len(p) written and no error;
// a failure is recorded for Err and Commit (see Writer).
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return len(p), nil
	}
	if w.f == nil {
		w.err = errors.New("cache: write after commit or abort")
		return len(p), nil
	}
	if _, err := w.f.Write(p); err != nil {
		w.failNow(err)
	}
	return len(p), nil
}

// Err returns the error that made w discard its bytes, or nil.
func (w *Writer) Err() error { return w.err }

// Reset discards what was written, to start the blob again. Like Write it
// never fails: an error is recorded for Err and Commit, and it returns nil.
func (w *Writer) Reset() error {
	if w.err != nil || w.f == nil {
		return nil
	}
	if err := w.f.Truncate(0); err != nil {
		w.failNow(err)
		return nil
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		w.failNow(err)
	}
	return nil
}

// failNow records err and drops the temp file.
func (w *Writer) failNow(err error) {
	w.err = w.c.unavailable(err)
	w.Abort()
}

// Commit makes the written bytes the blob for d. It fails, publishing
// nothing, when an earlier Write or Reset failed (that error is returned) or
// when the blob cannot be put in place; every error matches ErrUnavailable
// and means only that the blob is not cached.
func (w *Writer) Commit(d digest.Digest) error {
	if w.err != nil {
		return w.err
	}
	if w.f == nil {
		return errors.New("cache: commit after commit or abort")
	}
	f := w.f
	if err := f.Sync(); err != nil {
		w.failNow(err)
		return w.err
	}
	if err := f.Chmod(0o444); err != nil {
		w.failNow(err)
		return w.err
	}
	// Renamed while still locked, so a sweep never sees it unlocked.
	if err := w.root.Rename(w.name, blobName(d)); err != nil {
		w.failNow(err)
		return w.err
	}
	w.f = nil
	cerr := f.Close()
	if dir, err := w.root.Open(blobDir); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	w.root.Close()
	w.root = nil
	if cerr != nil {
		return w.c.unavailable(cerr)
	}
	return nil
}

// Abort removes the temp file. It is safe after Commit and more than once (it
// does nothing).
func (w *Writer) Abort() {
	if w.f != nil {
		w.f.Close()
		_ = w.root.Remove(w.name)
		w.f = nil
	}
	if w.root != nil {
		w.root.Close()
		w.root = nil
	}
}

// Entry is one blob in the cache.
type Entry struct {
	Digest  digest.Digest
	Size    int64
	ModTime time.Time
}

// List returns the blobs, sorted by digest. Entries that are not regular
// files named by a digest are skipped.
func (c *Cache) List() ([]Entry, error) {
	root, err := c.open()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	dir, err := root.Open(blobDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, c.unavailable(err)
	}
	des, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return nil, c.unavailable(err)
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

// Verify re-hashes the blob for d. A *digest.MismatchError (digest.IsIntegrity)
// means it is corrupt, an error matching ErrDamaged that it is not a regular
// file; any other error (ctx done, I/O) says nothing about the blob.
func (c *Cache) Verify(ctx context.Context, d digest.Digest) error {
	return c.verify(ctx, d, -1)
}

func (c *Cache) verify(ctx context.Context, d digest.Digest, size int64) error {
	f, err := c.Open(d)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && size >= 0 && fi.Size() != size {
		return &digest.SizeError{Got: fi.Size(), Want: size}
	}
	_, err = io.Copy(io.Discard, digest.NewReader(ctxReader{ctx, f}, d, size))
	return err
}

// Check reports whether a good blob for d (of size bytes; -1 when unknown) is
// in the cache, re-hashing it. A bad one — a digest or size mismatch (a
// truncated blob), or an entry that is not a regular file — is removed and
// reported as absent (false, nil). It removes nothing on any other error: a
// done ctx or an I/O error is returned with the blob left as it is.
func (c *Cache) Check(ctx context.Context, d digest.Digest, size int64) (bool, error) {
	err := c.verify(ctx, d, size)
	switch {
	case err == nil:
		return true, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	case digest.IsIntegrity(err) || errors.Is(err, ErrDamaged):
		_ = c.Remove(d)
		return false, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// Remove deletes the blob for d (or whatever entry has its name, without
// following it); a missing blob is not an error.
func (c *Cache) Remove(d digest.Digest) error {
	root, err := c.open()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()
	err = root.Remove(blobName(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cache: %s: %w", c.BlobPath(d), err)
	}
	return nil
}

// RemoveStaleTemps removes the temp files of killed runs from the cache's temp
// folder: partial blobs that no live process holds locked (a live writer's
// temp file is locked, so it is never removed). Call it when a run that uses
// the cache starts. A cache that does not exist holds none.
func (c *Cache) RemoveStaleTemps() (int, error) {
	root, err := c.open()
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer root.Close()
	n, err := fsutil.RemoveStaleTemps(root, tmpDir)
	if err != nil {
		return n, c.unavailable(err)
	}
	return n, nil
}

// Clean removes the temp files of killed runs, lock files nobody holds, and
// lock entries that are not regular files. It returns how many it removed.
func (c *Cache) Clean() (int, error) {
	n, err := c.RemoveStaleTemps()
	if err != nil {
		return n, err
	}
	root, err := c.open()
	if err != nil {
		return n, nil
	}
	defer root.Close()
	dir, err := root.Open(lockDir)
	if err != nil {
		return n, nil
	}
	des, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return n, nil
	}
	for _, de := range des {
		if removeUnheldLock(root, path.Join(lockDir, de.Name())) {
			n++
		}
	}
	return n, nil
}

// removeUnheldLock removes the lock file name if nobody holds it, or if it is
// not a regular file. Lock checks, once it holds a lock, that the name still
// leads to its file, so removing one it is about to lock is harmless.
func removeUnheldLock(root *os.Root, name string) bool {
	f, err := fsutil.OpenRegular(root, name, os.O_RDONLY, 0)
	if errors.Is(err, fsutil.ErrNotRegular) {
		return root.Remove(name) == nil
	}
	if err != nil {
		return false
	}
	defer f.Close()
	if ok, err := fsutil.TryLock(f); err != nil || !ok || !sameFile(root, name, f) {
		return false
	}
	return root.Remove(name) == nil
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
