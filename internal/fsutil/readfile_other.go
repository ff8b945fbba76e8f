//go:build !unix

package fsutil

// readNoBlock: no such open flag here; ReadRegularFile still refuses what
// is not a regular file once it is open.
const readNoBlock = 0
