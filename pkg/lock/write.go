package lock

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/djok/modelfetch/internal/fsutil"

	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Write records r.Edits in the manifest file in place and returns how many
// values it wrote. read is the text the edits were planned from.
//
// Writers of one manifest are serialised by the cache's lock for a digest of
// the manifest's real path, in cacheDir ("" locks nothing), so the
// repository gets no lock file. Where the cache cannot lock (a read-only or
// damaged cache) Write goes on unlocked: the cache is best-effort, and the
// re-read below narrows a race to milliseconds. Under the lock the manifest is read
// again: when another writer changed it meanwhile, the edits are applied to
// its text, not to read, so its values are kept. An edit whose value another
// writer changed to something else is not made; it becomes a Changed finding
// (kept). The file is replaced atomically, and not at all when nothing
// changes. Under the lock, the temps that killed runs left beside the
// manifest are removed first (temps.go), edits or not.
func (r *Report) Write(ctx context.Context, file string, read []byte, cacheDir string) (int, error) {
	real, err := filepath.EvalSymlinks(file)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		if len(r.Edits) == 0 {
			return 0, nil // nothing to write; the sweep is best-effort
		}
		return 0, err
	}
	unlock, err := lockFile(ctx, cacheDir, real)
	if err != nil {
		return 0, err // only ctx's
	}
	defer unlock()
	removeStaleTemps(filepath.Dir(real), filepath.Base(real), time.Now())
	if len(r.Edits) == 0 {
		return 0, nil
	}
	m, cur, err := manifest.ReadFile(file)
	if err != nil {
		return 0, err
	}
	edits := r.Edits
	if !bytes.Equal(cur, read) {
		old, err := manifest.Parse(file, m.BaseDir, read)
		if err != nil {
			return 0, err
		}
		if edits, err = r.rebase(old, m); err != nil {
			return 0, err
		}
	}
	if len(edits) == 0 {
		return 0, nil
	}
	out, err := manifest.Apply(file, m.BaseDir, cur, edits)
	if err != nil {
		return 0, err
	}
	if bytes.Equal(out, cur) {
		return 0, nil
	}
	if err := writeAtomic(real, out); err != nil {
		return 0, err
	}
	return len(edits), nil
}

// rebase keeps the edits that still apply to cur, the manifest as another
// writer left it: an edit whose value is already there is dropped, one
// whose value that writer changed is a Changed finding instead.
func (r *Report) rebase(old, cur *manifest.Manifest) ([]manifest.Edit, error) {
	var keep []manifest.Edit
	for _, e := range r.Edits {
		want := fmt.Sprint(e.Value)
		was, _ := value(old, e)
		now, ok := value(cur, e)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s: models.%s changed while lock ran; run lock again", cur.File, e.Model)
		case now == want:
		case now != was:
			r.Findings = append(r.Findings, Finding{Model: e.Model, Kind: Changed, Key: e.Key, Old: now, New: want, Kept: true})
		default:
			keep = append(keep, e)
		}
	}
	return keep, nil
}

// value returns the recorded value an edit targets ("" when none is), and
// false when the model or source is not in m.
func value(m *manifest.Manifest, e manifest.Edit) (string, bool) {
	mod := m.Model(e.Model)
	if mod == nil {
		return "", false
	}
	if e.Key == manifest.KeyPins {
		return mod.PinList().String(), true
	}
	sha, size := mod.SHA256, mod.Size
	if e.Source >= 0 {
		n := -1
		for _, s := range mod.Sources {
			if s.Table {
				if n++; n == e.Source {
					sha, size = s.SHA256, s.Size
				}
			}
		}
		if n < e.Source {
			return "", false
		}
	}
	if e.Key == "size" {
		return sizeString(size), true
	}
	if sha.IsZero() {
		return "", true
	}
	return sha.String(), true
}

// lockFile takes the lock of the manifest at the absolute path file, in the
// cache's lock folder (the cache's own lock: never follows a symlink, never
// blocks on a FIFO), waiting until it is free or ctx is done.
func lockFile(ctx context.Context, cacheDir, file string) (unlock func(), err error) {
	if cacheDir == "" {
		return func() {}, nil
	}
	return cache.New(cacheDir).Claim(ctx, digest.Of([]byte("manifest "+file)))
}

// writeAtomic replaces the file at name by temp file + fsync + rename,
// keeping its permissions; a reader sees the old file or the new one. The
// temp is held locked until it is renamed into place, so a later run can
// tell a dead run's temp from a live one's (temps.go).
func writeAtomic(name string, data []byte) error {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer root.Close()
	tmp, tmpName, err := fsutil.CreateTemp(root, ".", filepath.Base(name))
	if err != nil {
		return err
	}
	defer tmp.Close() // after the rename: the lock is held until then
	err = write(tmp, data, fi.Mode().Perm())
	if err == nil {
		err = root.Rename(tmpName, filepath.Base(name))
	}
	if err != nil {
		_ = root.Remove(tmpName)
	}
	return err
}

func write(f *os.File, data []byte, perm os.FileMode) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	return f.Sync()
}
