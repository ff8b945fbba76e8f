//go:build !unix

package fsutil

import "os"

// TryFlock reports ErrNoFlock: this platform has no flock, so a temp file's
// owner cannot be told apart from a dead run and stale files are kept.
func TryFlock(*os.File) (bool, error) { return false, ErrNoFlock }

// Flock reports ErrNoFlock (see TryFlock).
func Flock(*os.File) error { return ErrNoFlock }

// openNoBlock: no such open flags here; OpenRegular's checks still refuse
// what is not a regular file.
const openNoBlock = 0
