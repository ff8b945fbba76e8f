//go:build !unix

package fsutil

import "os"

// TryLock reports ErrNoLocks: this platform has no flock, so a temp file's
// owner cannot be told apart from a dead run and stale files are kept.
func TryLock(*os.File) (bool, error) { return false, ErrNoLocks }

// Lock reports ErrNoLocks (see TryLock).
func Lock(*os.File) error { return ErrNoLocks }

// openNoBlock: no such open flags here; OpenRegular's checks still refuse
// what is not a regular file.
const openNoBlock = 0
