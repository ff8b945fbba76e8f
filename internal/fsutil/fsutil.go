// Package fsutil holds the small file-system steps modelfetch's durable writes
// are made of: advisory locks on temp files, and finding temp files that a
// killed run left behind.
package fsutil

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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

// CreateTemp creates and locks a new temp file named after base in dir under
// root. The lock is taken before the file is trusted: a concurrent
// RemoveStaleTemps may see the file in the instant between its creation and
// the lock and remove it, so after locking, the name must still lead to our
// file, or we start again with a new name.
func CreateTemp(root *os.Root, dir, base string) (*os.File, string, error) {
	for attempt := 0; ; attempt++ {
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		name := path.Join(dir, TempPrefix+base+"."+hex.EncodeToString(rnd[:])+TempSuffix)
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, "", err
		}
		err = Lock(f)
		if errors.Is(err, ErrNoLocks) {
			return f, name, nil // nobody can tell ours apart; nobody removes it
		}
		if err != nil {
			f.Close()
			_ = root.Remove(name)
			return nil, "", err
		}
		mine, err1 := f.Stat()
		named, err2 := root.Lstat(name)
		if err1 == nil && err2 == nil && os.SameFile(mine, named) {
			return f, name, nil
		}
		f.Close()
		if attempt == 5 {
			return nil, "", fmt.Errorf("%s: temp file keeps disappearing", name)
		}
	}
}
