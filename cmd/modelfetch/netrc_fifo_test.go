//go:build unix

package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/djok/modelfetch/internal/testutil"
)

// A NETRC that leads to a FIFO is no netrc, at once: a blocking read would
// wait for a writer forever (issue 26).
func TestNetrcFIFO(t *testing.T) {
	fifo := testutil.FIFO(t, "netrc")
	text := "unread"
	testutil.Within(t, 2*time.Second, func() { text = readNetrc(env{Netrc: fifo}) })
	assert.Empty(t, text)
}
