// Package prune decides what `modelfetch cache prune` removes: every cached
// blob whose digest the manifest does not record for a model (or every blob),
// then the leftovers of killed runs.
package prune

import (
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
