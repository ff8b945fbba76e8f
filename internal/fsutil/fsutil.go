// Package fsutil holds the small file-system steps modelfetch's durable writes
// are made of: advisory locks on open files, opening a file without following
// a symlink or blocking on a special file, and finding the temp files that a
// killed run left behind.
//
// It is the one file-lock implementation in modelfetch. gofrs/flock was
// weighed and left out: it locks a path it opens itself, so it cannot lock the
// temp file CreateTemp has just created (reopening it by name races with a
// sweep), and it follows symlinks and blocks on a FIFO when it opens.
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
	"unicode/utf8"
)

// ErrNoFlock means the filesystem does not support advisory locks.
var ErrNoFlock = errors.New("file locks are not supported here")

// ErrNotRegular means a name leads to something other than a regular file: a
// symlink, a FIFO, a device, a socket or a folder.
var ErrNotRegular = errors.New("not a regular file")

// TempPrefix and TempSuffix frame the names of modelfetch's temp files, so a
// later run can recognise (and remove) those of a killed one.
const (
	TempPrefix = ".modelfetch-"
	TempSuffix = ".tmp"
)

// NameMax is the longest file name (one path component, in bytes) that the
// common filesystems accept; temp names never exceed it.
const NameMax = 255

// tempRandLen is the length of the random part of a temp name, in hex digits.
const tempRandLen = 12

// IsTemp reports whether name is a modelfetch temp file name.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, TempPrefix) && strings.HasSuffix(name, TempSuffix)
}

// TempName returns a temp file name for base with the random part rnd:
// TempPrefix + base + "." + rnd + TempSuffix, where base is cut short (at a
// UTF-8 boundary) when the whole would be longer than NameMax, so any legal
// file name gets a temp name that fits beside it.
func TempName(base, rnd string) string {
	keep := NameMax - len(TempPrefix) - 1 - len(rnd) - len(TempSuffix)
	if keep < 0 {
		keep = 0
	}
	if len(base) > keep {
		for keep > 0 && !utf8.RuneStart(base[keep]) {
			keep--
		}
		base = base[:keep]
	}
	return TempPrefix + base + "." + rnd + TempSuffix
}

// PathCause is err without the *fs.PathError around it: the cause alone,
// for a message that names the path its own way.
func PathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// OpenRegular opens name under root and returns it only if it is a regular
// file. It never blocks on a FIFO or device (the open is non-blocking, and a
// special file is refused before it is opened when it can be seen), it never
// follows a symlink in the last component, and root keeps every earlier
// component inside root. Anything but a regular file gives an error matching
// ErrNotRegular; the file itself is left as it is.
func OpenRegular(root *os.Root, name string, flag int, perm os.FileMode) (*os.File, error) {
	notRegular := &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		return nil, notRegular
	}
	f, err := root.OpenFile(name, flag|openNoBlock, perm)
	if err != nil {
		// Swapped for a symlink out of root, a FIFO with no reader, …
		if fi, lerr := root.Lstat(name); lerr == nil && !fi.Mode().IsRegular() {
			return nil, notRegular
		}
		return nil, err
	}
	// The name may have been swapped between the check and the open: what
	// was opened must be a regular file and still be what the name leads to.
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	lfi, err := root.Lstat(name)
	if fi.Mode().IsRegular() && err == nil && os.SameFile(fi, lfi) {
		return f, nil
	}
	f.Close()
	return nil, notRegular
}

// RemoveStaleTemps removes, from dir under root, the modelfetch temp files that
// no live process holds locked. A temp file is locked for as long as the run
// writing it lives, so an unlocked one belongs to a run that was killed. It
// follows no symlink and opens no special file: an entry with a temp name that
// is not a regular file is left alone. Where locks are unsupported nothing is
// removed. A missing dir is not an error. It returns how many were removed.
func RemoveStaleTemps(root *os.Root, dir string) (int, error) {
	return noFlockIsFine(sweep(root, dir, nil))
}

// RemoveStaleTempsTree is RemoveStaleTemps for dir and every folder beneath
// it: the sweep of a whole install root, which finds the temp files of a
// killed run whatever models it was installing. It does not descend through
// symlinks, and reads at most TreeLimit folders (an install root holds few;
// one given as / must not cost a walk of the disk). A folder it cannot read
// is skipped; the first such error is returned after the rest of the tree
// has been swept.
func RemoveStaleTempsTree(root *os.Root, dir string) (int, error) {
	budget := TreeLimit
	return noFlockIsFine(sweep(root, dir, &budget))
}

// TreeLimit bounds the folders RemoveStaleTempsTree reads.
const TreeLimit = 4096

func noFlockIsFine(n int, err error) (int, error) {
	if errors.Is(err, ErrNoFlock) {
		return n, nil
	}
	return n, err
}

// sweep removes stale temps from dir, and from the folders beneath it while
// budget (nil: dir alone) lasts.
func sweep(root *os.Root, dir string, budget *int) (int, error) {
	if budget != nil {
		if *budget <= 0 {
			return 0, nil
		}
		*budget--
	}
	if fi, err := root.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, err
	} else if !fi.IsDir() {
		return 0, nil // a symlink or a file: nothing of ours is beneath it
	}
	d, err := root.Open(dir)
	if err != nil {
		return 0, err
	}
	des, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return 0, err
	}
	removed := 0
	var first error
	for _, de := range des {
		p := path.Join(dir, de.Name())
		if budget != nil && de.IsDir() {
			n, err := sweep(root, p, budget)
			removed += n
			if errors.Is(err, ErrNoFlock) {
				return removed, err
			}
			if err != nil && first == nil {
				first = err
			}
			continue
		}
		if !IsTemp(de.Name()) || !de.Type().IsRegular() {
			continue
		}
		ok, err := removeIfStale(root, p)
		if ok {
			removed++
		}
		if errors.Is(err, ErrNoFlock) {
			return removed, err // nobody's temp files can be told apart here
		}
	}
	return removed, first
}

// removeIfStale removes the temp file p if nobody holds it locked.
func removeIfStale(root *os.Root, p string) (bool, error) {
	// Read-only is enough for flock, and opens a temp file already made
	// read-only by its commit.
	f, err := OpenRegular(root, p, os.O_RDONLY, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	ok, err := TryFlock(f)
	if !ok {
		return false, err
	}
	// Locked by us now: remove it only if the name still leads to this file
	// (its writer may have renamed it into place and let go).
	fi, err1 := f.Stat()
	named, err2 := root.Lstat(p)
	if err1 != nil || err2 != nil || !os.SameFile(fi, named) {
		return false, nil
	}
	return root.Remove(p) == nil, nil
}

// CreateTemp creates and locks a new temp file named after base in dir under
// root. The name fits NameMax whatever the length of base (see TempName). The
// lock is taken before the file is trusted: a concurrent RemoveStaleTemps may
// see the file in the instant between its creation and the lock and remove it,
// so after locking, the name must still lead to our file, or we start again
// with a new name.
func CreateTemp(root *os.Root, dir, base string) (*os.File, string, error) {
	for attempt := 0; ; attempt++ {
		var rnd [tempRandLen / 2]byte
		_, _ = rand.Read(rnd[:])
		name := path.Join(dir, TempName(base, hex.EncodeToString(rnd[:])))
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, "", err
		}
		err = Flock(f)
		if errors.Is(err, ErrNoFlock) {
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
