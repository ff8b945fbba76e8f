package cache

import (
	"errors"
	"io"
	"os"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/pkg/digest"
)

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
	wb   fsutil.Flusher // starts the write-back of f as it grows
	name string         // under root
	err  error          // the first failure; once set, bytes are discarded
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
	n, err := w.f.Write(p)
	if err != nil {
		w.failNow(err)
		return len(p), nil
	}
	w.wb.Wrote(w.f, n)
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
	w.wb.Reset()
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
