//go:build unix

package lock

import (
	"errors"
	"syscall"
)

// noFollow opens a lock file without following a symlink and without
// blocking on a FIFO.
const noFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// noLocks reports whether err says the filesystem cannot lock (some network
// filesystems): writers then go on unserialised, as the cache does.
func noLocks(err error) bool {
	return errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS)
}
