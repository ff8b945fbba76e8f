//go:build unix

package rules

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A rules path that leads to a FIFO is refused at once: a blocking open
// would wait for a writer forever (issue 26).
func TestLoadFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "rules.toml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan error, 1)
	go func() { _, err := Load(fifo); done <- err }()
	select {
	case err := <-done:
		require.Error(t, err)
		require.Contains(t, err.Error(), "not a regular file")
	case <-time.After(2 * time.Second):
		t.Fatal("Load of a FIFO still blocked after 2s")
	}
}
