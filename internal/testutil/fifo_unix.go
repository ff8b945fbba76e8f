//go:build unix

package testutil

import (
	"path/filepath"
	"syscall"
	"testing"
)

// FIFO makes a named pipe called name in a new temporary folder and returns
// its path: no writer ever opens it, so a blocking open or read of it waits
// forever, which is what the tests of "never block on a special file" need.
func FIFO(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
