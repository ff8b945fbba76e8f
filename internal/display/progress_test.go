package display

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/fetch"
)

func TestPlainProgressIsThrottled(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, ModePlain, true)
	p.Start("codeformer", 1000)
	for i := int64(1); i <= 1000; i++ {
		p.Progress("codeformer", i)
	}
	p.Done(fetch.Result{Name: "codeformer", Status: fetch.StatusInstalled, Size: 1000, Source: "https://h/c", Duration: time.Second})
	p.Finish()
	out := buf.String()
	assert.NotContains(t, out, "\r")
	assert.NotContains(t, out, "\x1b")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, []string{"modelfetch: codeformer: installed 1.0 kB from https://h/c in 1.0s"}, lines,
		"a thousand progress calls within a second print nothing but the result")
}

func TestRetryLinesAreThrottled(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, ModePlain, true)
	p.Start("m", 1000)
	se := &fetch.SourceError{Source: "https://h/m", Kind: fetch.KindNetwork, Err: errors.New("connection reset")}
	for range 300 {
		p.Retry("m", se, time.Millisecond)
	}
	p.retried["m"].last = time.Now().Add(-plainEvery)
	p.Retry("m", se, time.Millisecond)
	p.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, "modelfetch: m: https://h/m: retrying in 1ms: connection reset", lines[0])
	assert.Equal(t, "modelfetch: m: https://h/m: retrying in 1ms: connection reset (and 299 more retries since the last line)", lines[1])
}

func TestFixedLine(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, ModePlain, true)
	p.Done(fetch.Result{Name: "a", Status: fetch.StatusUpToDate, Fixed: true})
	p.Finish()
	assert.Equal(t, "modelfetch: a: up to date (mode and owner set again)\n", buf.String())
}

func TestNoProgressPrintsNothing(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, ModeNone, false)
	p.Start("a", 10)
	p.Progress("a", 5)
	p.Retry("a", &fetch.SourceError{Source: "https://h/a", Err: assert.AnError}, time.Second)
	p.Done(fetch.Result{Name: "a", Status: fetch.StatusInstalled})
	p.Finish()
	assert.Empty(t, buf.String())
}

// Among the bars, a retry's or a warning's line is shortened rather than
// wrapped (a new user saw 88-column retry lines wrap at 80).
func TestLinesAmongTheBarsDoNotWrap(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, ModePlain, true)
	p.mode, p.size = ModeBar, func() (int, int) { return 60, 24 }
	long := "modelfetch: stuck: http://127.0.0.1:18082/small.bin: retrying in 276ms: stalled: no data for 3s"
	p.println(long)
	line := strings.TrimRight(strings.TrimLeft(buf.String(), "\r"), "\n")
	assert.Less(t, len([]rune(line)), 60, line)
	assert.True(t, strings.HasPrefix(line, "modelfetch: stuck: "), line)
	assert.True(t, strings.HasSuffix(line, "no data for 3s"), line)
	buf.Reset()
	p.mode = ModePlain
	p.println(long)
	assert.Equal(t, long+"\n", buf.String(), "a log keeps the line whole")
}

// A plain line counts the bytes done as the bar does: a ranged download
// with most of its chunks received but few read in order is shown as far
// along as it is (a build log once said 2.2 MB where 25.8 MB had come).
func TestPlainLineCountsWhatTheBarCounts(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, ModePlain, true)
	p.Start("f1", 40_000_000)
	p.Progress("f1", 2_000_000)
	p.items["f1"].last = time.Now().Add(-plainEvery)
	p.items["f1"].start = time.Now().Add(-5 * time.Second)
	p.Received("f1", 25_000_000)
	p.Finish()
	line := strings.TrimSpace(buf.String())
	assert.True(t, strings.HasPrefix(line, "modelfetch: f1: 25.0 MB of 40.0 MB (62%), "), line)
}

// Erasing the bars erases the line below them too, where the cursor waits
// and the terminal echoes "^C": with --json no table follows to cover it,
// and a stray "^C" was left under the prompt (black-box run).
func TestEraseClearsTheLineBelowTheBars(t *testing.T) {
	p := NewProgress(&bytes.Buffer{}, ModePlain, true)
	p.mode, p.drawn = ModeBar, []int{20, 20}
	assert.Equal(t, "\r\x1b[2K\x1b[1A\x1b[2K\x1b[1A\x1b[2K", p.erase(80))
}
