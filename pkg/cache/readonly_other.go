//go:build !unix

package cache

func isReadOnly(error) bool { return false }
