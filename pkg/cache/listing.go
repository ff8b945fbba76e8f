package cache

import (
	"io/fs"
	"slices"
	"strings"

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
	f, err := c.readBlobs()
	if err != nil {
		return Listing{}, err
	}
	l := Listing{Junk: f.junk, Damaged: f.damaged}
	for _, e := range f.blobs {
		l.Total += e.Size
		n := slices.Clone(names[e.Digest])
		slices.Sort(n)
		l.Blobs = append(l.Blobs, Listed{Entry: e, Models: n})
	}
	return l, nil
}

// blobFolder is one read of the blob folder, each entry sorted into what it
// is, without following or opening any of them.
type blobFolder struct {
	blobs   []Entry     // regular files named by a sha256, sorted by digest
	junk    []JunkEntry // names that are not a sha256, in name order
	damaged []JunkEntry // named by a sha256, not a regular file; in name order
}

// readBlobs reads the blob folder once and classifies every entry. A
// cache or folder that does not exist has none.
func (c *Cache) readBlobs() (blobFolder, error) {
	root, des, err := c.blobEntries()
	if root == nil {
		return blobFolder{}, err
	}
	root.Close() // the entries carry what is needed
	var f blobFolder
	for _, de := range des {
		f.add(de)
	}
	slices.SortFunc(f.blobs, func(a, b Entry) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	return f, nil
}

// add classifies one entry. A blob whose details cannot be read (it went
// away since the folder was read) is left out; junk's size is a regular
// file's only, -1 for anything else.
func (f *blobFolder) add(de fs.DirEntry) {
	d, perr := digest.Parse(de.Name())
	regular := de.Type().IsRegular()
	fi, ierr := de.Info()
	if perr == nil && regular {
		if ierr == nil {
			f.blobs = append(f.blobs, Entry{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()})
		}
		return
	}
	j := JunkEntry{Name: de.Name(), Type: de.Type(), Size: -1}
	if regular && ierr == nil {
		j.Size = fi.Size()
	}
	if perr != nil {
		f.junk = append(f.junk, j)
	} else {
		f.damaged = append(f.damaged, j)
	}
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
