package cache

import (
	"context"
	"io/fs"
	"path"

	"github.com/djok/modelfetch/pkg/digest"
)

// What leaves the cache: `cache prune` removes every blob the caller does
// not keep, the junk, then the leftovers of killed runs; `cache verify`
// removes the blobs whose bytes do not match their digest.

// PruneReport is what Prune removed.
type PruneReport struct {
	Blobs int   // blobs removed
	Freed int64 // their bytes
	Junk  int   // junk entries removed (see Junk)
	Stale int   // temp and claim files of killed runs, damaged entries
}

// Prune removes every blob whose digest is not in keep (a nil or empty keep
// removes every blob), every junk entry (never following a link), then the
// stale files of killed runs (Clean).
func (c *Cache) Prune(keep map[digest.Digest]bool) (PruneReport, error) {
	var r PruneReport
	entries, err := c.List()
	if err != nil {
		return r, err
	}
	for _, e := range entries {
		if keep[e.Digest] {
			continue
		}
		if err := c.Remove(e.Digest); err != nil {
			return r, err
		}
		r.Blobs++
		r.Freed += e.Size
	}
	if r.Junk, err = c.removeJunk(); err != nil {
		return r, err
	}
	r.Stale, err = c.Clean()
	return r, err
}

// JunkEntry is an entry of the blob folder whose name is not a sha256 (64
// lowercase hex digits): nothing modelfetch wrote, and nothing it reads.
type JunkEntry struct {
	Name string
	Type fs.FileMode // the entry's type bits (0 for a regular file)
	Size int64       // of a regular file; -1 for anything else
}

// Junk lists the junk entries of the blob folder, in name order, without
// following or opening any of them.
func (c *Cache) Junk() ([]JunkEntry, error) {
	f, err := c.readBlobs()
	return f.junk, err
}

// Damaged lists the entries of the blob folder named by a sha256 that are
// not regular files (a symlink, a FIFO, a folder), in name order, without
// following or opening any of them: Open treats them as misses, and Clean
// (so Prune) removes them.
func (c *Cache) Damaged() ([]JunkEntry, error) {
	f, err := c.readBlobs()
	return f.damaged, err
}

// removeJunk removes the junk entries: a link itself, never what it names.
func (c *Cache) removeJunk() (int, error) {
	junk, err := c.Junk()
	if err != nil || len(junk) == 0 {
		return 0, err
	}
	root, err := c.open()
	if err != nil {
		return 0, err
	}
	defer root.Close()
	n := 0
	for _, j := range junk {
		if err := root.RemoveAll(path.Join(blobDir, j.Name)); err != nil {
			return n, c.unavailable(err)
		}
		n++
	}
	return n, nil
}

// Bad is a blob that failed its re-hash.
type Bad struct {
	Digest digest.Digest
	Name   string // the entry's name, when it is not a digest
	Err    error  // why it failed
	// Removed: its bytes did not match its name, so it was removed.
	// RemoveErr: it should have been, and could not be.
	Removed   bool
	RemoveErr error
}

// VerifyAll removes the blob entries that are not regular files (reported
// as bad, with ErrDamaged), then re-hashes every blob and removes those
// whose bytes do not match their digest; a blob that could not be read (an
// I/O error) is reported and kept. checked counts every entry it judged,
// the damaged ones included, so bad is never more than checked.
func (c *Cache) VerifyAll(ctx context.Context) (checked int, bad []Bad, err error) {
	damaged, err := c.RemoveDamaged()
	for _, name := range damaged {
		d, _ := digest.Parse(name)
		bad = append(bad, Bad{Digest: d, Name: name, Err: ErrDamaged, Removed: true})
	}
	checked = len(damaged)
	if err != nil {
		return checked, bad, err
	}
	entries, err := c.List()
	if err != nil {
		return checked, bad, err
	}
	for _, e := range entries {
		verr := c.Verify(ctx, e.Digest)
		if ctx.Err() != nil {
			return checked, bad, ctx.Err()
		}
		checked++
		if verr == nil {
			continue
		}
		b := Bad{Digest: e.Digest, Err: verr}
		if digest.IsIntegrity(verr) {
			b.RemoveErr = c.Remove(e.Digest)
			b.Removed = b.RemoveErr == nil
		}
		bad = append(bad, b)
	}
	return checked, bad, nil
}
