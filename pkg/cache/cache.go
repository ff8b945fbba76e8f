// Package cache is a content-addressed store of verified model files, keyed by
// the SHA-256 of their installed bytes.
//
// Layout under the cache folder:
//
//	blobs/sha256/<hex>   verified blobs, read-only (0444)
//	tmp/                 blobs being written (temp file, locked while written)
//	locks/<hex>.lock     one claim per digest (Claim), so processes sharing
//	                     the cache download each blob once
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
//   - Claim fails only when ctx is done: a claim file it cannot use means
//     going on without a claim.
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
	blobDir  = "blobs/sha256"
	tmpDir   = "tmp"
	claimDir = "locks" // the claims' folder (named before claims were)
)

// claimPoll is how often Claim tries again while another process holds the claim.
const claimPoll = 50 * time.Millisecond

// Cache is a cache folder. The zero value is not usable; call New.
type Cache struct {
	dir string
	// NoClaim skips the per-digest claim, as on a filesystem without flock:
	// processes may then download a blob twice, but every blob stays whole.
	NoClaim bool
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
	for _, d := range []string{blobDir, tmpDir, claimDir} {
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

// Entry is one blob in the cache.
type Entry struct {
	Digest  digest.Digest
	Size    int64
	ModTime time.Time
}

// List returns the blobs, sorted by digest. Entries that are not regular
// files named by a digest are skipped.
func (c *Cache) List() ([]Entry, error) {
	f, err := c.readBlobs()
	return f.blobs, err
}

// blobEntries reads the blob folder. A cache or folder that does not exist
// has none; root, when not nil, is open for the caller to use and close.
func (c *Cache) blobEntries() (root *os.Root, des []fs.DirEntry, err error) {
	root, err = c.open()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	dir, err := root.Open(blobDir)
	if errors.Is(err, fs.ErrNotExist) {
		root.Close()
		return nil, nil, nil
	}
	if err != nil {
		root.Close()
		return nil, nil, c.unavailable(err)
	}
	des, err = dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		root.Close()
		return nil, nil, c.unavailable(err)
	}
	return root, des, nil
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

// RemoveDamaged removes the entries of the blob folder that are not regular
// files (a symlink, a FIFO, a folder: never followed, never opened) and
// returns their names. Open already treats them as misses.
func (c *Cache) RemoveDamaged() ([]string, error) {
	root, des, err := c.blobEntries()
	if root == nil {
		return nil, err
	}
	defer root.Close()
	var removed []string
	for _, de := range des {
		if de.Type().IsRegular() {
			continue
		}
		if err := root.RemoveAll(path.Join(blobDir, de.Name())); err != nil {
			return removed, c.unavailable(err)
		}
		removed = append(removed, de.Name())
	}
	return removed, nil
}

// Clean removes the temp files of killed runs, claim files nobody holds,
// claim entries and blob entries that are not regular files. It returns how many
// it removed.
func (c *Cache) Clean() (int, error) {
	n, err := c.RemoveStaleTemps()
	if err != nil {
		return n, err
	}
	damaged, err := c.RemoveDamaged()
	n += len(damaged)
	if err != nil {
		return n, err
	}
	root, err := c.open()
	if err != nil {
		return n, nil
	}
	defer root.Close()
	dir, err := root.Open(claimDir)
	if err != nil {
		return n, nil
	}
	des, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return n, nil
	}
	for _, de := range des {
		if removeUnheldClaim(root, path.Join(claimDir, de.Name())) {
			n++
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
