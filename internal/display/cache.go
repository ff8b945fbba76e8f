package display

import (
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"

	"github.com/djok/modelfetch/pkg/cache"
)

// CacheTable prints cache ls: the blobs, labelled by their models, then the
// junk entries and the totals.
func CacheTable(w io.Writer, l cache.Listing) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "sha256\tsize\tmodels")
	for _, e := range l.Blobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Digest, HumanSize(e.Size), Dash(strings.Join(e.Models, ",")))
	}
	for _, j := range l.Junk {
		size := "-"
		if j.Size >= 0 {
			size = HumanSize(j.Size)
		}
		fmt.Fprintf(tw, "%s\t%s\tjunk (%s, not a sha256)\n", j.Name, size, entryType(j.Type))
	}
	for _, d := range l.Damaged {
		fmt.Fprintf(tw, "%s\t-\tdamaged (%s, not a regular file)\n", d.Name, entryType(d.Type))
	}
	fmt.Fprintf(tw, "%s\t%s\t\n", Plural(len(l.Blobs), "blob"), HumanSize(l.Total))
	if len(l.Junk) > 0 {
		fmt.Fprintf(tw, "%d junk entries\t\tcache prune removes them\n", len(l.Junk))
	}
	if len(l.Damaged) > 0 {
		fmt.Fprintf(tw, "%d damaged entries\t\tcache prune removes them\n", len(l.Damaged))
	}
	return tw.Flush()
}

// entryType names a directory entry's type in words.
func entryType(t fs.FileMode) string {
	switch {
	case t.IsRegular():
		return "file"
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t.IsDir():
		return "folder"
	case t&fs.ModeNamedPipe != 0:
		return "fifo"
	}
	return "special file"
}

// BadBlobs prints cache verify's error lines, one per blob that failed its
// re-hash, with what became of it.
func (u *UI) BadBlobs(bad []cache.Bad) {
	for _, b := range bad {
		id := b.Digest.String()
		if b.Name != "" {
			id = b.Name
		}
		switch {
		case b.Removed:
			u.Errorf("cache: %s: %v; removed", id, b.Err)
		case b.RemoveErr != nil:
			u.Errorf("cache: %s: %v; could not remove it: %v", id, b.Err, b.RemoveErr)
		default:
			u.Errorf("cache: %s: %v", id, b.Err)
		}
	}
}

// Pruned is cache prune's line: what it removed.
func Pruned(r cache.PruneReport) string {
	junk := ""
	if r.Junk == 1 {
		junk = ", 1 junk entry"
	} else if r.Junk > 0 {
		junk = fmt.Sprintf(", %d junk entries", r.Junk)
	}
	return fmt.Sprintf("modelfetch: removed %s (%s)%s and %s", Plural(r.Blobs, "blob"), HumanSize(r.Freed), junk, Plural(r.Stale, "stale file"))
}
