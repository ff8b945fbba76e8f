package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Every file operation below an install root goes through os.Root, so no
// symlink inside the root can lead a write outside it.

// ensureRoot creates dir and its missing parents with mode and owner and opens
// it as an os.Root. Existing directories are left as they are.
func ensureRoot(dir string, mode os.FileMode, owner *manifest.Owner) (*os.Root, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("%s: not a directory", d)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := os.Mkdir(d, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		} else if err == nil {
			if err := os.Chmod(d, mode); err != nil { // umask-proof
				return nil, err
			}
			if owner != nil {
				if err := os.Lchown(d, owner.UID, owner.GID); err != nil {
					return nil, err
				}
			}
		}
	}
	return os.OpenRoot(dir)
}

// ensureParents creates the missing directories of rel's parent inside root.
func ensureParents(root *os.Root, rel string, mode os.FileMode, owner *manifest.Owner) error {
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := root.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s: not a directory", p)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := root.Mkdir(p, mode); err != nil {
			if errors.Is(err, fs.ErrExist) { // a concurrent run made it
				continue
			}
			return err
		}
		if err := root.Chmod(p, mode); err != nil {
			return err
		}
		if owner != nil {
			if err := root.Lchown(p, owner.UID, owner.GID); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkConfined reports an error when rel's parent resolves outside root
// through a symlink (or is not a directory). A parent that does not exist yet
// is fine: it will be created inside the root.
func checkConfined(rootDir, rel string) error {
	root, err := os.OpenRoot(rootDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	_, err = root.Stat(dir)
	switch {
	case err == nil || errors.Is(err, fs.ErrNotExist):
		return nil
	case strings.Contains(err.Error(), "escapes"):
		return fmt.Errorf("%s escapes its root through a symlink", dir)
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: %w", dir, err)
	}
}

// tempFile is a file being written beside its destination; it becomes the
// destination only through commit.
type tempFile struct {
	root *os.Root
	name string // inside root
	dest string // inside root
	f    *os.File
}

func createTemp(root *os.Root, dest string) (*tempFile, error) {
	f, name, err := fsutil.CreateTemp(root, path.Dir(dest), path.Base(dest))
	if err != nil {
		return nil, err
	}
	return &tempFile{root: root, name: name, dest: dest, f: f}, nil
}

func (t *tempFile) Write(p []byte) (int, error) { return t.f.Write(p) }

func (t *tempFile) reset() error {
	if err := t.f.Truncate(0); err != nil {
		return err
	}
	_, err := t.f.Seek(0, io.SeekStart)
	return err
}

// commit syncs, sets mode and owner, and renames over the destination.
func (t *tempFile) commit(mode os.FileMode, owner *manifest.Owner) error {
	if err := t.f.Sync(); err != nil {
		return err
	}
	if err := t.f.Chmod(mode); err != nil {
		return err
	}
	if owner != nil {
		if err := t.f.Chown(owner.UID, owner.GID); err != nil {
			return err
		}
	}
	if fi, err := t.root.Lstat(t.dest); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: destination is a directory", t.dest)
	}
	if err := t.root.Rename(t.name, t.dest); err != nil {
		return err
	}
	f := t.f
	t.f = nil
	if err := f.Close(); err != nil {
		return err
	}
	if d, err := t.root.Open(path.Dir(t.dest)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// abort removes the temp file; after commit it does nothing.
func (t *tempFile) abort() {
	if t == nil || t.f == nil {
		return
	}
	t.f.Close()
	_ = t.root.Remove(t.name)
	t.f = nil
}

// Why an installed file is not the one wanted, besides a digest or size
// mismatch (digest.IsIntegrity).
var (
	errMissing    = errors.New("missing")
	errNotRegular = errors.New("not a regular file")
)

// checkInstalled verifies rel inside root against want and size (when >= 0),
// reading it once. A file of the wrong length fails without being read.
func checkInstalled(ctx context.Context, root *os.Root, rel string, want digest.Digest, size int64) error {
	fi, err := root.Lstat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errMissing
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return errNotRegular
	case size >= 0 && fi.Size() != size:
		return &digest.SizeError{Got: fi.Size(), Want: size, Over: fi.Size() > size}
	}
	f, err := root.Open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = copyCtx(ctx, io.Discard, digest.NewReader(f, want, size))
	return err
}

// matches reports whether rel inside root is a regular file with digest want
// (and size, when size >= 0). A missing or different file is (false, nil).
func matches(ctx context.Context, root *os.Root, rel string, want digest.Digest, size int64) (bool, error) {
	switch err := checkInstalled(ctx, root, rel, want, size); {
	case err == nil:
		return true, nil
	case errors.Is(err, errMissing), errors.Is(err, errNotRegular), digest.IsIntegrity(err):
		return false, nil
	default:
		return false, err
	}
}
