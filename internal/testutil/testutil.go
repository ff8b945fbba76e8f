// Package testutil holds what the tests of several packages share: test
// data, the system tools some tests need, a time limit. Only tests, and
// helpers only tests use (internal/testsrv), import it.
//
// A test that needs a tool the machine lacks is skipped, except under
// CI=true, where it fails: CI installs every tool (.ci/run), so a test that
// skips there is a test that silently stopped running.
package testutil

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"
)

// CI reports whether the tests run under CI=true.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing is what a test does when something it needs, described by what
// (say, "nginx is not installed (apt-get install nginx)"), is not there: it
// fails under CI=true and is skipped elsewhere.
func Missing(t testing.TB, what string) {
	t.Helper()
	if err := MissingErr(what); err != nil {
		t.Fatal(err)
	}
	t.Skip(what)
}

// MissingErr is Missing for a testscript condition, which skips a script
// when it is false and fails it on an error: nil (skip) unless CI=true.
func MissingErr(what string) error {
	if CI() {
		return errors.New(what + ", and under CI=true every test runs (.ci/run installs what they need)")
	}
	return nil
}

// Tool returns the path of the program name (a name looked up in PATH, or
// a path), or, when there is none, calls Missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed")
	}
	return p
}

// RandomBytes returns n reproducible pseudo-random bytes: incompressible
// test data.
func RandomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Within runs f and fails the test if it has not returned in time, so a
// regression that blocks (an open of a FIFO, a lock never released) fails
// instead of hanging the suite.
func Within(t testing.TB, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still blocked after %v", d)
	}
}
