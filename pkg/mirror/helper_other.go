//go:build !unix

package mirror

import "os/exec"

// ownGroup: no process groups here; the helper itself is killed at its
// deadline (exec's default).
func ownGroup(*exec.Cmd) {}

// killGroup: nothing to do without process groups.
func killGroup(*exec.Cmd) {}
