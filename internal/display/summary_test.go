package display

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

func TestErrorsInFileOrderWithTheirHints(t *testing.T) {
	var buf bytes.Buffer
	u := &UI{Stderr: &buf}
	u.PrintError(manifest.ErrorList{
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

func TestSummaryFitsTheTerminal(t *testing.T) {
	src := "file:///home/someone/work/modelfetch/examples/demo/files/shape_predictor_standin.dat.bz2"
	rows := func() [][]string {
		return [][]string{{"artifact", "size", "status", "source", "time", "throughput"},
			{"shape-predictor", "300.0 kB", "installed", src, "0.0s", "3.9 MB/s"}}
	}
	r := fitColumns(rows(), 0)
	assert.Equal(t, src, r[1][3])
	r = fitColumns(rows(), 80)
	line := strings.Join(r[1], "  ")
	assert.Less(t, utf8.RuneCountInString(line), 80, line)
	assert.True(t, strings.HasPrefix(r[1][3], "file:///"), r[1][3])
	assert.True(t, strings.HasSuffix(r[1][3], ".bz2"), r[1][3])
	assert.Contains(t, r[1][3], "…")
}

// A long name does not wrap the summary either: the source is shortened
// first, then the name, and at last time and throughput are left out.
func TestSummaryOfLongNamesFitsTheTerminal(t *testing.T) {
	name := "big-model-with-a-rather-long-name-for-testing"
	src := "http://127.0.0.1:18777/big-model-with-a-rather-long-name-for-testing.bin"
	for _, width := range []int{80, 60} {
		r := fitColumns([][]string{{"artifact", "size", "status", "source", "time", "throughput"},
			{name, "30.0 MB", "installed", src, "21.2s", "1.4 MB/s"},
			{"small", "8.0 MB", "installed", "http://127.0.0.1:18777/small.bin.bz2", "21.2s", "377.4 kB/s"}}, width)
		assert.Less(t, tableWidth(r), width, "width %d: %q", width, r)
		assert.True(t, strings.HasPrefix(r[1][0], "big-mod"), r[1][0])
		assert.Equal(t, "small", r[2][0])
		if width == 80 {
			assert.Len(t, r[0], 6, "at 80 columns the table keeps every column")
		}
	}
}

// The line that says a file is installed fits among the bars, however long
// its name, and keeps everything in a log.
func TestDoneLineFitsTheTerminal(t *testing.T) {
	r := fetch.Result{Name: "big-model-with-a-rather-long-name-for-testing", Status: fetch.StatusInstalled,
		Size: 30_000_000, Source: "http://127.0.0.1:18777/big-model-with-a-rather-long-name-for-testing.bin", Duration: 2200 * time.Millisecond}
	for _, width := range []int{80, 60} {
		line := doneLine(r, width)
		assert.Less(t, utf8.RuneCountInString(line), width, line)
		assert.True(t, strings.HasSuffix(line, "installed 30.0 MB in 2.2s") || strings.Contains(line, " from "), line)
	}
	assert.Equal(t, "modelfetch: "+r.Name+": installed 30.0 MB from "+r.Source+" in 2.2s", doneLine(r, 0))
	r.Name = "small"
	assert.Equal(t, "modelfetch: small: installed 30.0 MB from http://127.0.0.1:18777/big-model-with-a-rather-long-name-for-testing.bin in 2.2s", doneLine(r, 0))
	assert.Contains(t, doneLine(r, 80), "small: installed 30.0 MB from http://127.0.0")
}
