package display

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/djok/modelfetch/pkg/fetch"
)

// The interrupt's one line: the signal as its cause gave it ("interrupted"
// for a cancel without one), how many of how many; nothing when no artifact
// was stopped, even beside a real failure.
func TestInterruption(t *testing.T) {
	stopped := func(cause error) fetch.Result {
		return fetch.Result{Name: "x", Status: fetch.StatusFailed, Err: &fetch.Error{Artifact: "x", Kind: fetch.KindCanceled, Err: cause}}
	}
	failed := fetch.Result{Name: "y", Status: fetch.StatusFailed, Err: &fetch.Error{Artifact: "y", Kind: fetch.KindNetwork, Err: errors.New("reset")}}
	installed := fetch.Result{Name: "z", Status: fetch.StatusInstalled}

	line, ok := Interruption([]fetch.Result{installed, stopped(errors.New("terminated (SIGTERM)")), stopped(context.Canceled)})
	assert.True(t, ok)
	assert.Equal(t, "terminated (SIGTERM): 2 of 3 artifacts not finished, none left half-written", line)
	line, _ = Interruption([]fetch.Result{stopped(context.Canceled)})
	assert.Equal(t, "interrupted: 1 of 1 artifact not finished, none left half-written", line)
	_, ok = Interruption([]fetch.Result{installed, failed})
	assert.False(t, ok)
	assert.Equal(t, fetch.Status("interrupted"), resultStatus(stopped(nil)))
	assert.Equal(t, fetch.StatusFailed, resultStatus(failed))
}

// FreshLine writes nothing to what is not a terminal: a log or a pipe never
// got the "^C" echo.
func TestFreshLineOnlyOnATerminal(t *testing.T) {
	var b bytes.Buffer
	FreshLine(&b, &b)
	assert.Empty(t, b.String())
	f, err := os.CreateTemp(t.TempDir(), "log")
	assert.NoError(t, err)
	defer f.Close()
	FreshLine(f, f)
	fi, _ := f.Stat()
	assert.Zero(t, fi.Size())
}
