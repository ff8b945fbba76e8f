// Package fsutil holds the small file-system steps modelfetch's durable writes
// are made of: advisory locks on temp files, and finding temp files that a
// killed run left behind.
package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
)

// ErrNoLocks means the filesystem does not support advisory locks.
var ErrNoLocks = errors.New("file locks are not supported here")

// TempPrefix and TempSuffix frame the names of modelfetch's temp files, so a
// later run can recognise (and remove) those of a killed one.
const (
	TempPrefix = ".modelfetch-"
	TempSuffix = ".tmp"
)

// IsTemp reports whether name is a modelfetch temp file name.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, TempPrefix) && strings.HasSuffix(name, TempSuffix)
}

// RemoveStaleTemps removes, from dir under root, the modelfetch temp files that
// no live process holds locked. A temp file is locked for as long as the run
// writing it lives, so an unlocked one belongs to a run that was killed. Where
// locks are unsupported nothing is removed. It returns how many were removed.
func RemoveStaleTemps(root *os.Root, dir string) (int, error) {
	d, err := root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, n := range names {
		if !IsTemp(n) {
			continue
		}
		p := path.Join(dir, n)
		f, err := root.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		ok, err := TryLock(f)
		if ok {
			if root.Remove(p) == nil {
				removed++
			}
		}
		f.Close()
		if errors.Is(err, ErrNoLocks) {
			return removed, nil
		}
	}
	return removed, nil
}
