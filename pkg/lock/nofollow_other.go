//go:build !unix

package lock

const noFollow = 0

func noLocks(error) bool { return false }
