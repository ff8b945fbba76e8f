//go:build unix

package fsutil

import (
	"errors"
	"os"
	"syscall"
)

// TryFlock takes an exclusive advisory lock on f without waiting. It returns
// false when another open file description holds one, and ErrNoFlock where the
// filesystem cannot lock at all.
func TryFlock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EINVAL):
			return false, ErrNoFlock
		default:
			return false, err
		}
	}
}

// Flock takes an exclusive advisory lock on f, waiting for it.
func Flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EINVAL):
			return ErrNoFlock
		default:
			return err
		}
	}
}

// openNoBlock keeps an open from waiting on a FIFO or device and from
// following a symlink in the last component.
const openNoBlock = syscall.O_NONBLOCK | syscall.O_NOFOLLOW
