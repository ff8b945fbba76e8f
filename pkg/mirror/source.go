package mirror

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Installed is one model where the manifest installs it.
type Installed struct {
	Model *manifest.Model
	// Root is the absolute install root; Model.Path is relative to it.
	Root string
}

// dest is the installed file's absolute path, for messages.
func (i Installed) dest() string { return filepath.Join(i.Root, filepath.FromSlash(i.Model.Path)) }

// Missing is a model there is no file to push for.
type Missing struct {
	Name string
	// Reason is the one-line message.
	Reason string
	// Integrity: there is a file, and it is not what the manifest records.
	Integrity bool
}

// Sources picks each model's file to push: the installed file when it is a
// regular file of the declared size, else the cache's copy (c may be nil).
// The bytes are checked against the manifest while they are uploaded; the
// installed file is opened inside its root (no symlink out of it, and a
// FIFO swapped in since it was looked at blocks nothing).
func Sources(files []Installed, c *cache.Cache) (blobs []Blob, missing []Missing) {
	for _, f := range files {
		b, why := source(f, c)
		if why != nil {
			missing = append(missing, *why)
			continue
		}
		blobs = append(blobs, b)
	}
	return blobs, missing
}

func source(f Installed, c *cache.Cache) (Blob, *Missing) {
	m := f.Model
	b := Blob{Name: m.Name, Path: path.Join(m.Dir, m.Path), Digest: m.SHA256, Size: m.Size}
	var wrongSize int64 = -1
	if root, err := os.OpenRoot(f.Root); err == nil {
		fi, err := root.Lstat(m.Path)
		root.Close()
		switch {
		case err == nil && fi.Mode().IsRegular() && fi.Size() == m.Size:
			b.Open = func() (io.ReadCloser, error) { return openInRoot(f.Root, m.Path) }
			return b, nil
		case err == nil && fi.Mode().IsRegular():
			wrongSize = fi.Size()
		}
	}
	if c != nil && c.Has(m.SHA256) {
		b.Open = func() (io.ReadCloser, error) { return c.Open(m.SHA256) }
		return b, nil
	}
	if wrongSize >= 0 {
		return b, &Missing{Name: m.Name, Integrity: true, Reason: fmt.Sprintf(
			"%s: installed at %s with %d bytes, the manifest declares %d, and the cache has no copy",
			m.Name, f.dest(), wrongSize, m.Size)}
	}
	return b, &Missing{Name: m.Name, Reason: m.Name + ": neither installed at " + f.dest() + " nor in the cache"}
}

// openInRoot opens the regular file rel inside root.
func openInRoot(root, rel string) (io.ReadCloser, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return fsutil.OpenRegular(r, rel, os.O_RDONLY, 0)
}

// MountSources are the repositories of others (a mirror list) on target's
// registry, other than target's own: a blob one of them has is mounted
// rather than uploaded.
func MountSources(target Mirror, others []Mirror) []string {
	var from []string
	for _, m := range others {
		if m.Kind == OCI && m.Registry == target.Registry && m.Repository != target.Repository {
			from = append(from, m.Repository)
		}
	}
	return from
}

// PushInstalled is Push of the files Sources finds for files. A model
// without a file makes the set incomplete: the others are pushed and no
// manifest is tagged. With no file at all, nothing is pushed and the
// report is nil.
func PushInstalled(ctx context.Context, m Mirror, files []Installed, c *cache.Cache, o PushOptions) (*PushReport, []Missing, error) {
	blobs, missing := Sources(files, c)
	if len(blobs) == 0 {
		return nil, missing, nil
	}
	o.Incomplete = o.Incomplete || len(missing) > 0
	r, err := Push(ctx, m, blobs, o)
	return r, missing, err
}
