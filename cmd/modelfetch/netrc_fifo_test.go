//go:build unix

package main

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A NETRC that leads to a FIFO is no netrc, at once: a blocking read would
// wait for a writer forever (issue 26).
func TestNetrcFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "netrc")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan string, 1)
	go func() { done <- readNetrc(env{Netrc: fifo}) }()
	select {
	case text := <-done:
		assert.Empty(t, text)
	case <-time.After(2 * time.Second):
		t.Fatal("reading a FIFO netrc still blocked after 2s")
	}
}
