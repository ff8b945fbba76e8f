//go:build unix

package fsutil

import "syscall"

// readNoBlock keeps ReadRegularFile's open from waiting on a FIFO or device.
const readNoBlock = syscall.O_NONBLOCK
