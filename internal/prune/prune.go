// Package prune decides what leaves the cache: `modelfetch cache prune`
// removes every blob whose digest the manifest does not record for a model
// (or every blob), then the leftovers of killed runs; `cache verify` removes
// the blobs whose bytes do not match their digest.
package prune

import (
	"context"

	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Keep returns the digests to keep: the sha256 of every locked model of m,
// selected or not (another run may install them).
func Keep(m *manifest.Manifest) map[digest.Digest]bool {
	keep := map[digest.Digest]bool{}
	for _, mod := range m.Models {
		if mod.Locked() {
			keep[mod.SHA256] = true
		}
	}
	return keep
}

// Report is what a prune removed.
type Report struct {
	Blobs int   // blobs removed
	Freed int64 // their bytes
	Stale int   // temp and lock files of killed runs removed
}

// Run removes from c every blob whose digest is not in keep (a nil or empty
// keep removes every blob), then the stale files of killed runs.
func Run(c *cache.Cache, keep map[digest.Digest]bool) (Report, error) {
	var r Report
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
	r.Stale, err = c.Clean()
	return r, err
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

// Corrupt removes the blob entries that are not regular files (reported as
// bad, with cache.ErrDamaged), then re-hashes every blob of c and removes
// those whose bytes do not match their digest; a blob that could not be read
// (an I/O error) is reported and kept. It returns how many blobs it checked.
func Corrupt(ctx context.Context, c *cache.Cache) (checked int, bad []Bad, err error) {
	damaged, err := c.RemoveDamaged()
	for _, name := range damaged {
		d, _ := digest.Parse(name)
		bad = append(bad, Bad{Digest: d, Name: name, Err: cache.ErrDamaged, Removed: true})
	}
	if err != nil {
		return 0, bad, err
	}
	entries, err := c.List()
	if err != nil {
		return 0, bad, err
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
