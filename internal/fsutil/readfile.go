package fsutil

import (
	"errors"
	"io"
	"io/fs"
	"os"
)

// ErrTooLarge means a file is larger than the caller's bound.
var ErrTooLarge = errors.New("file too large")

// ReadRegularFile reads the file at path, which a user or an attacker may
// name, in one open: non-blocking, so a FIFO or device swapped in never
// holds the run; then the open file itself is checked (a regular file of
// at most max bytes, whatever the name leads to by now), and at most max
// bytes are read even if it grows meanwhile. A symlink is followed, as a
// dotfile often is one. The errors are *fs.PathError around fs.ErrNotExist
// (and the other open errors), ErrNotRegular or ErrTooLarge.
func ReadRegularFile(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|readNoBlock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, &fs.PathError{Op: "open", Path: path, Err: ErrNotRegular}
	case fi.Size() > max:
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	switch {
	case err != nil:
		return nil, err
	case int64(len(b)) > max:
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	return b, nil
}
