//go:build !unix

package display

import "os"

// resizes: without SIGWINCH the new width is read at the next tick.
func resizes() (sigs <-chan os.Signal, stop func()) { return nil, func() {} }
