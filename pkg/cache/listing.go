package cache

import (
	"slices"

	"github.com/djok/modelfetch/pkg/digest"
)

// Listed is a blob with the names of the models it holds.
type Listed struct {
	Entry
	Models []string // sorted; none when no model is known to hold it
}

// Listing is what cache ls shows: the blobs, the junk entries and the
// blobs' total size.
type Listing struct {
	Blobs []Listed
	Junk  []JunkEntry
	// Damaged are entries named by a sha256 that are not regular files.
	Damaged []JunkEntry
	Total   int64
}

// Listing lists the blobs, each named by the models names gives its digest
// (nil: none), the junk entries and the damaged ones.
func (c *Cache) Listing(names map[digest.Digest][]string) (Listing, error) {
	entries, err := c.List()
	if err != nil {
		return Listing{}, err
	}
	junk, err := c.Junk()
	if err != nil {
		return Listing{}, err
	}
	damaged, err := c.Damaged()
	if err != nil {
		return Listing{}, err
	}
	l := Listing{Junk: junk, Damaged: damaged}
	for _, e := range entries {
		l.Total += e.Size
		n := slices.Clone(names[e.Digest])
		slices.Sort(n)
		l.Blobs = append(l.Blobs, Listed{Entry: e, Models: n})
	}
	return l, nil
}

// Keep is the set of digests Prune keeps for a manifest: every model it
// locks (see manifest.LockedDigests), selected or not.
func Keep(locked map[digest.Digest][]string) map[digest.Digest]bool {
	keep := map[digest.Digest]bool{}
	for d := range locked {
		keep[d] = true
	}
	return keep
}
