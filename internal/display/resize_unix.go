//go:build unix

package display

import (
	"os"
	"os/signal"
	"syscall"
)

// resizes reports each SIGWINCH until stop, so the bars are redrawn at the
// new width at once rather than at the next tick.
func resizes() (sigs <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	return ch, func() { signal.Stop(ch) }
}
