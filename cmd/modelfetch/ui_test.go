package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

// On a pipe (docker build logs) progress is a few plain lines, never a
// carriage-return stream: at most one line per artifact every plainEvery.
func TestPlainProgressIsThrottled(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, progressPlain, true)
	p.Start("codeformer", 1000)
	for i := int64(1); i <= 1000; i++ {
		p.Progress("codeformer", i)
	}
	p.Done(fetch.Result{Name: "codeformer", Status: fetch.StatusInstalled, Size: 1000, Source: "https://h/c", Duration: time.Second})
	p.finish()
	out := buf.String()
	assert.NotContains(t, out, "\r")
	assert.NotContains(t, out, "\x1b")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, []string{"modelfetch: codeformer: installed 1.0 kB from https://h/c in 1.0s"}, lines,
		"a thousand progress calls within a second print nothing but the result")
}

// A server that fails every connection at once must not fill a build log:
// retry lines are throttled like progress lines, and say what was skipped.
func TestRetryLinesAreThrottled(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, progressPlain, true)
	p.Start("m", 1000)
	se := &fetch.SourceError{Source: "https://h/m", Kind: fetch.KindNetwork, Err: errors.New("connection reset")}
	for range 300 {
		p.Retry("m", se, time.Millisecond)
	}
	p.retried["m"].last = time.Now().Add(-plainEvery)
	p.Retry("m", se, time.Millisecond)
	p.finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, "modelfetch: m: https://h/m: retrying in 1ms: connection reset", lines[0])
	assert.Equal(t, "modelfetch: m: https://h/m: retrying in 1ms: connection reset (and 299 more retries since the last line)", lines[1])
}

// Right bytes with the wrong mode: the line says what was done.
func TestFixedLine(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, progressPlain, true)
	p.Done(fetch.Result{Name: "a", Status: fetch.StatusUpToDate, Fixed: true})
	p.finish()
	assert.Equal(t, "modelfetch: a: up to date (mode and owner set again)\n", buf.String())
}

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

func TestNoProgressPrintsNothing(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, progressNone, false)
	p.Start("a", 10)
	p.Progress("a", 5)
	p.Retry("a", &fetch.SourceError{Source: "https://h/a", Err: assert.AnError}, time.Second)
	p.Done(fetch.Result{Name: "a", Status: fetch.StatusInstalled})
	p.finish()
	assert.Empty(t, buf.String())
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
		assert.Equal(t, tt.want, command(tt.args...))
	}
	assert.Nil(t, manifestArg("models.toml", env{}), "the default manifest needs no -m")
	assert.Equal(t, []string{"-m", "other.toml"}, manifestArg("other.toml", env{}))
	assert.Nil(t, manifestArg("conf/m.toml", env{Manifest: "conf/m.toml"}), "nor MODELFETCH_MANIFEST's")
}

// Manifest and rules errors come in file order, each with its hint right
// after it; the "and N more" line stays last.
func TestErrorsInFileOrderWithTheirHints(t *testing.T) {
	var buf bytes.Buffer
	u := &ui{stderr: &buf}
	u.printError(manifest.ErrorList{
		{File: "r.toml", Line: 7, Msg: "seven", Hint: "fix seven"},
		{File: "r.toml", Line: 1, Msg: "one", Hint: "fix one"},
		{Msg: "and 3 more problems"},
		{File: "r.toml", Line: 6, Msg: "six"},
	})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 6)
	assert.Contains(t, lines[0], "r.toml:1")
	assert.Equal(t, "modelfetch: hint: fix one", lines[1])
	assert.Contains(t, lines[2], "r.toml:6")
	assert.Contains(t, lines[3], "r.toml:7")
	assert.Equal(t, "modelfetch: hint: fix seven", lines[4])
	assert.Contains(t, lines[5], "and 3 more problems")
}

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
func TestSummaryFitsTheTerminal(t *testing.T) {
	src := "file:///home/someone/work/modelfetch/examples/demo/files/shape_predictor_standin.dat.bz2"
	rows := func() [][]string {
		return [][]string{{"artifact", "size", "status", "source", "time", "throughput"},
			{"shape-predictor", "300.0 kB", "installed", src, "0.0s", "3.9 MB/s"}}
	}
	r := rows()
	fitColumn(r, 3, 0)
	assert.Equal(t, src, r[1][3])
	r = rows()
	fitColumn(r, 3, 80)
	line := strings.Join(r[1], "  ")
	assert.Less(t, utf8.RuneCountInString(line), 80, line)
	assert.True(t, strings.HasPrefix(r[1][3], "file:///"), r[1][3])
	assert.True(t, strings.HasSuffix(r[1][3], ".bz2"), r[1][3])
	assert.Contains(t, r[1][3], "…")
}
