package display

import (
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// Every line fits its terminal with a column to spare, whatever the width,
// and the figures that do not fit go, the ETA first.
func TestFrameFitsTheWidth(t *testing.T) {
	now := time.Now()
	rows := []row{
		{name: "u2net", total: 176_000_000, n: 88_000_000, served: 1, rate: 12_300_000},
		{name: "codeformer-facelib-detection-resnet50-final", total: 109_500_000, n: 1_000, served: 1, rate: -1},
		{name: "late", total: 1000, retryAt: now.Add(3 * time.Second)},
	}
	for width := 20; width <= 200; width++ {
		for _, l := range frame(rows, width, 0, now) {
			assert.Less(t, utf8.RuneCountInString(l), width, "%d columns: %q", width, l)
		}
	}
	at80 := frame(rows, 80, 0, now)
	assert.Equal(t, []string{
		"u2net                      50%  88.0 MB/176.0 MB   12.3 MB/s  ETA 7s",
		"codeformer-…snet50-final    0%   1.0 kB/109.5 MB           -  ETA -",
		"late                      retrying in 3s",
	}, at80)
	at60 := frame(rows, 60, 0, now)
	assert.Equal(t, "u2net         50%  88.0 MB/176.0 MB   12.3 MB/s  ETA 7s", at60[0])
	at40 := frame(rows, 40, 0, now)
	assert.Equal(t, "u2net             50%  88.0 MB/176.0 MB", at40[0], "no room for the rate and the ETA")
	wide := frame(rows[:1], 120, 0, now)
	assert.Contains(t, wide[0], "u2net  [====================", "a bar where there is room")
}

func TestFrameStates(t *testing.T) {
	now := time.Now()
	lines := frame([]row{{name: "a", total: 10}, {name: "b", total: 10, served: 4_000_000},
		{name: "c", total: 10, received: 3_000_000}, {name: "d", total: 10, served: 1_000, received: 5_000_000}}, 60, 0, now)
	assert.Equal(t, []string{"a  connecting", "b  decoding, 4.0 MB received",
		"c  downloading, 3.0 MB received", "d  decoding, 5.0 MB received"}, lines, "a state instead of 0%")
}

// More artifacts in flight than the terminal has rows: the last line counts
// the others, so the frame never scrolls.
func TestFrameFitsTheHeight(t *testing.T) {
	var rows []row
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		rows = append(rows, row{name: n, total: 10})
	}
	lines := frame(rows, 80, 5, time.Now())
	assert.Len(t, lines, 4)
	assert.Equal(t, "… and 3 more", lines[3])
}

func TestShortenKeepsBothEnds(t *testing.T) {
	assert.Equal(t, "codefo…-final", shorten("codeformer-facelib-detection-resnet50-final", 13))
	assert.Equal(t, "u2net", shorten("u2net", 13))
	assert.Equal(t, 13, utf8.RuneCountInString(shorten("codeformer-facelib-detection-resnet50-final", 13)))
}

func TestETA(t *testing.T) {
	assert.Equal(t, "12s", eta(12*time.Second))
	assert.Equal(t, "3m05s", eta(185*time.Second))
	assert.Equal(t, "1h02m", eta(62*time.Minute))
	assert.Equal(t, "99h+", eta(200*time.Hour))
}

// After a terminal narrowed and reflowed the lines drawn, erasing them
// takes as many rows as they now fill.
func TestRowsUpAfterAResize(t *testing.T) {
	assert.Equal(t, 3, rowsUp([]int{66, 51, 66}, 80))
	assert.Equal(t, 5, rowsUp([]int{66, 51, 66}, 60))
	assert.Equal(t, 2, rowsUp([]int{0, 10}, 60))
}

func TestRateOverTheLastSeconds(t *testing.T) {
	t0 := time.Now()
	var s []sample
	s = addSample(s, t0, 0)
	assert.Equal(t, -1.0, rateOf(s))
	for i := 1; i <= 20; i++ {
		n := int64(i) * 1_000_000 // 1 MB/s for 10 s...
		if i > 10 {
			n = 10_000_000 + int64(i-10)*100_000 // ...then 100 kB/s
		}
		s = addSample(s, t0.Add(time.Duration(i)*time.Second), n)
	}
	assert.InDelta(t, 100_000, rateOf(s), 1, "the rate now, not the average")
}

// lock reads a model without a size: the bytes so far, no percentage.
func TestFrameWithoutATotal(t *testing.T) {
	lines := frame([]row{{name: "big", total: -1, n: 1_700_000, served: 1, rate: 61_000}}, 60, 0, time.Now())
	assert.Equal(t, "big         1.7 MB            61.0 kB/s  ETA -", lines[0])
}
