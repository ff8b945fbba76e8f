package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/hints"
	"github.com/djok/modelfetch/pkg/fetch"
)

// On a pipe (docker build logs) progress is a few plain lines, never a
// carriage-return stream: at most one line per artifact every plainEvery.
// A server that fails every connection at once must not fill a build log:
// retry lines are throttled like progress lines, and say what was skipped.
// Right bytes with the wrong mode: the line says what was done.
// A cache that could not be written is a warning, never a failure, and it is
// shown whatever --progress says (only -q hides it).
func TestWarningsShownWithoutProgress(t *testing.T) {
	res := []fetch.Result{{Name: "b", Status: fetch.StatusInstalled, Size: 1000, Source: "https://h/b", Duration: time.Second,
		Warnings: []error{errors.New("cache not updated: no space left on device")}}}
	for _, quiet := range []bool{false, true} {
		var stdout, stderr bytes.Buffer
		rep := reporter{stdout: &stdout, stderr: &stderr, command: "fetch", out: outputOptions{quiet: quiet}}
		require.NoError(t, rep.report(res, false))
		if quiet {
			assert.NotContains(t, stderr.String(), "warning")
		} else {
			assert.Contains(t, stderr.String(), "modelfetch: warning: b: cache not updated: no space left on device\n")
		}
	}
}

func TestCredentialsGoOnlyToTheirHost(t *testing.T) {
	dir := t.TempDir()
	netrc := filepath.Join(dir, "netrc")
	require.NoError(t, os.WriteFile(netrc, []byte("machine models.example.com login alice password s3cret\n"), 0o600))
	e := env{Netrc: netrc, HFToken: "hf_abc"}
	creds := credentialPolicy(e, readNetrc(e), nil).Func()
	assert.Equal(t, "Basic YWxpY2U6czNjcmV0", creds("https", "models.example.com"))
	assert.Equal(t, "", creds("https", "cdn.example.com"), "no netrc entry, no credential")
	assert.Equal(t, "Bearer hf_abc", creds("https", "huggingface.co"))
	assert.Equal(t, "Bearer hf_abc", creds("https", "hf.co"))
	assert.Equal(t, "", creds("http", "huggingface.co"), "the token never goes over plain http")
	assert.Equal(t, "", creds("https", "cdn-lfs.huggingface.co"), "nor to the CDN a hub redirects to")
}

// A hint's command pastes into a shell as it is.
func TestHintCommandQuotes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{args: []string{"lock", "--update=codeformer"}, want: "modelfetch lock --update=codeformer"},
		{args: []string{"fetch", "-m", "my models.toml"}, want: "modelfetch fetch -m 'my models.toml'"},
		{args: []string{"fetch", "--out", "it's"}, want: `modelfetch fetch --out 'it'\''s'`},
		{args: []string{"fetch", "--out", "$HOME/x"}, want: "modelfetch fetch --out '$HOME/x'"},
	} {
		assert.Equal(t, tt.want, hints.Command(tt.args...))
	}
	assert.Nil(t, manifestArg("models.toml", env{}), "the default manifest needs no -m")
	assert.Equal(t, []string{"-m", "other.toml"}, manifestArg("other.toml", env{}))
	assert.Nil(t, manifestArg("conf/m.toml", env{Manifest: "conf/m.toml"}), "nor MODELFETCH_MANIFEST's")
}

// Manifest and rules errors come in file order, each with its hint right
// after it; the "and N more" line stays last.
// --speed-limit 0 turns the check off (fetch reads a negative MinSpeed as
// off and 0 as its default), any other value passes through.
func TestSpeedLimitZeroMeansOff(t *testing.T) {
	assert.Equal(t, int64(-1), speedOption(0))
	assert.Equal(t, int64(4096), speedOption(4096))
}

// The summary's throughput counts installed bytes, as the live progress
// does: a 5 MB model served as 11.5 kB of xz took one second, 5.0 MB/s.
func TestSummaryThroughputCountsInstalledBytes(t *testing.T) {
	var stderr bytes.Buffer
	rep := reporter{stdout: &bytes.Buffer{}, stderr: &stderr, command: "fetch"}
	require.NoError(t, rep.report([]fetch.Result{{Name: "x", Status: fetch.StatusInstalled, Size: 5_000_000, Served: 11_500,
		Source: "https://h/x.xz", Duration: time.Second}}, false))
	assert.Contains(t, stderr.String(), " 5.0 MB/s\n")
	assert.NotContains(t, stderr.String(), "11.5 kB/s")
}

// On a terminal the summary's sources are shortened in the middle so its
// lines fit; in a log (width 0) they stay whole.

// An interrupt with a real failure before it: the failure keeps its lines
// and its kind (integrity wins, docs/DESIGN.md), the interrupt is one line
// after them, and the artifacts it stopped are "interrupted" in the table.
func TestInterruptKeepsTheRealFailures(t *testing.T) {
	canceled := fetch.Result{Name: "b", Status: fetch.StatusFailed,
		Err: &fetch.Error{Artifact: "b", Kind: fetch.KindCanceled, Err: &signalError{syscall.SIGINT}}}
	bad := fetch.Result{Name: "a", Status: fetch.StatusFailed,
		Err: &fetch.Error{Artifact: "a", Kind: fetch.KindIntegrity, Err: errors.New("sha256 mismatch")}}
	var stderr bytes.Buffer
	rep := reporter{stdout: &bytes.Buffer{}, stderr: &stderr, command: "fetch"}
	err := rep.report([]fetch.Result{bad, canceled}, false)
	assert.Equal(t, 3, exitCode(context.Background(), err))
	assert.Regexp(t, `(?m)^a +0 B +failed `, stderr.String())
	assert.Regexp(t, `(?m)^b +0 B +interrupted `, stderr.String())
	assert.True(t, strings.HasSuffix(stderr.String(), "modelfetch: error: a: sha256 mismatch\n"+
		"modelfetch: error: interrupted (SIGINT): 1 of 2 artifacts not finished, none left half-written\n"), stderr.String())
}
