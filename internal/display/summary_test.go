package display

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
