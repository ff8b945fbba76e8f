package testutil

import (
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"
)

// fakeT records how a helper ended the test: Fatal and Skip end the
// goroutine, as testing's do.
type fakeT struct {
	testing.TB
	failed, skipped string
}

func (f *fakeT) Helper()                           {}
func (f *fakeT) Fatal(args ...any)                 { f.failed = fmt.Sprint(args...); runtime.Goexit() }
func (f *fakeT) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }
func (f *fakeT) Skip(args ...any)                  { f.skipped = fmt.Sprint(args...); runtime.Goexit() }

// run runs fn with a fakeT in its own goroutine and returns the fakeT.
func run(fn func(t testing.TB)) *fakeT {
	f := &fakeT{}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	return f
}

// A missing tool skips the test, except under CI=true, where it fails it.
func TestMissingToolFailsOnlyUnderCI(t *testing.T) {
	for _, ci := range []string{"", "false", "true"} {
		t.Setenv("CI", ci)
		f := run(func(t testing.TB) { Tool(t, "modelfetch-no-such-tool") })
		if ci == "true" {
			if f.failed == "" || f.skipped != "" {
				t.Errorf("CI=%q: failed %q, skipped %q; want a failure", ci, f.failed, f.skipped)
			}
			if MissingErr("x") == nil {
				t.Errorf("CI=%q: MissingErr is nil", ci)
			}
			continue
		}
		if f.skipped == "" || f.failed != "" {
			t.Errorf("CI=%q: failed %q, skipped %q; want a skip", ci, f.failed, f.skipped)
		}
		if err := MissingErr("x"); err != nil {
			t.Errorf("CI=%q: MissingErr %v", ci, err)
		}
	}
}

func TestBzip2RoundTrips(t *testing.T) {
	data := append(RandomBytes(150_000, 1), bytes.Repeat([]byte("abc"), 50_000)...)
	for _, level := range []int{1, 9} {
		got, err := io.ReadAll(bzip2.NewReader(bytes.NewReader(Bzip2(t, data, level))))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("level %d: %d bytes of %d, %v", level, len(got), len(data), err)
		}
	}
}

func TestRandomBytesAreReproducible(t *testing.T) {
	if !bytes.Equal(RandomBytes(100, 7), RandomBytes(100, 7)) || bytes.Equal(RandomBytes(100, 7), RandomBytes(100, 8)) {
		t.Fatal("RandomBytes is not a function of its seed")
	}
}

func TestWithinFailsWhatBlocks(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	if f := run(func(t testing.TB) { Within(t, 10*time.Millisecond, func() { <-block }) }); f.failed == "" {
		t.Fatal("a blocked call passed")
	}
	if f := run(func(t testing.TB) { Within(t, time.Second, func() {}) }); f.failed != "" {
		t.Fatal(f.failed)
	}
}
