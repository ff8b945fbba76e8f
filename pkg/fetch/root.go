package fetch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/djok/modelfetch/pkg/manifest"
)

// The install roots: every file operation below one goes through os.Root,
// so no symlink inside the root can lead a write outside it. A run records
// the folders it creates (created), so that it can leave a root as it found
// it when it fails.

// created is the folders one run made, to remove again those it left empty.
type created struct {
	mu   sync.Mutex
	dirs []string // absolute paths, in the order they were made
}

func (c *created) add(dir string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.dirs = append(c.dirs, dir)
	c.mu.Unlock()
}

// removeEmpty removes, deepest first, the folders made by the run that are
// empty now (a failed install's, or one whose only file went elsewhere).
// A folder that holds anything stays: rmdir refuses it.
func (c *created) removeEmpty() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.dirs) - 1; i >= 0; i-- {
		_ = syscall.Rmdir(c.dirs[i]) // never a file, never a folder with anything in it
	}
	c.dirs = nil
}

// ensureRoot creates dir and its missing parents with mode and owner and opens
// it as an os.Root. Existing directories are left as they are.
func ensureRoot(dir string, mode os.FileMode, owner *manifest.Owner, made *created) (*os.Root, error) {
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
			made.add(d)
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
func ensureParents(root *os.Root, rel string, mode os.FileMode, owner *manifest.Owner, made *created) error {
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
		made.add(filepath.Join(root.Name(), filepath.FromSlash(p)))
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
