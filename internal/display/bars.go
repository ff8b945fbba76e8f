package display

// The live display on a terminal: one line per artifact in flight, redrawn in
// place every tick and on a resize. schollz/progressbar draws one bar that
// wraps when the terminal is narrower than its fixed layout, so this small
// renderer replaced it: every line is fitted to the terminal's width (one
// column spare, so no line ever wraps), names share one column (a long one
// shortened with "…" in the middle), and the figures are installed bytes,
// as the plain lines and the summary count them.

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	maxNameWidth = 24 // a longer name is shortened
	minNameWidth = 8
	minBarWidth  = 10 // "[" 8 cells "]"; narrower: no bar, only figures
	maxBarWidth  = 42
	rateWindow   = 5 * time.Second // the rate is measured over the last few seconds
)

// Widths of the figures: "100%", " 12.3 MB/99.7 MB ", "999.9 MB/s", "ETA 59m59s".
const (
	pctWidth   = 4
	bytesWidth = 17
	rateWidth  = 10
	etaWidth   = 10
)

// statsWidths are the figures that fit, widest first: all; without the ETA;
// without the rate either.
var statsWidths = []int{
	pctWidth + 1 + bytesWidth + 2 + rateWidth + 2 + etaWidth,
	pctWidth + 1 + bytesWidth + 2 + rateWidth,
	pctWidth + 1 + bytesWidth,
}

// row is what one line shows of an artifact.
type row struct {
	name     string
	total, n int64
	served   int64     // bytes of the source read in order so far (into the decoder)
	received int64     // bytes off the network so far, over every connection
	rate     float64   // installed bytes per second, -1 when not known yet
	retryAt  time.Time // waiting to retry until then
}

// layout is how a frame's columns share the width.
type layout struct {
	name, bar, stats int
}

// fit shares width among the columns: the figures first (dropping the ETA,
// then the rate, when they do not fit), then the names (up to their longest,
// at most maxNameWidth), then the bar with what is left.
func fit(width, longest int) layout {
	avail := width - 1 // never the last column: a full line would wrap
	nameW := min(longest, maxNameWidth)
	l := layout{stats: statsWidths[len(statsWidths)-1]}
	for _, s := range statsWidths {
		if avail >= min(nameW, minNameWidth)+2+s {
			l.stats = s
			break
		}
	}
	l.name = max(min(nameW, avail-2-l.stats), 1)
	if b := avail - l.name - 2 - l.stats - 2; b >= minBarWidth {
		l.bar = min(b, maxBarWidth)
	}
	return l
}

// frame renders rows for a terminal width columns wide and height rows high
// (0: unknown): one line each, none wider than width-1 columns.
func frame(rows []row, width, height int, now time.Time) []string {
	if height > 2 && len(rows) > height-1 {
		hidden := len(rows) - (height - 2)
		rows = rows[:height-2]
		lines := frame(rows, width, 0, now)
		return append(lines, clip(fmt.Sprintf("… and %d more", hidden), width-1))
	}
	longest := 0
	for _, r := range rows {
		longest = max(longest, len(r.name))
	}
	l := fit(width, longest)
	lines := make([]string, len(rows))
	for i, r := range rows {
		var b strings.Builder
		b.WriteString(pad(shorten(r.name, l.name), l.name))
		if l.bar > 0 {
			b.WriteString("  ")
			b.WriteString(bar(r, l.bar))
		}
		b.WriteString("  ")
		b.WriteString(stats(r, l.stats, now))
		lines[i] = clip(strings.TrimRight(b.String(), " "), width-1)
	}
	return lines
}

// state is what a row without installed bytes says instead of 0%.
func (r row) state(now time.Time) string {
	switch {
	case now.Before(r.retryAt):
		return "retrying in " + eta(r.retryAt.Sub(now))
	case r.n > 0:
		return ""
	case r.served > 0:
		return "decoding, " + HumanSize(max(r.served, r.received)) + " received"
	case r.received > 0:
		// A ranged download whose first chunk is still on its way.
		return "downloading, " + HumanSize(r.received) + " received"
	}
	return "connecting"
}

func bar(r row, width int) string {
	inner := width - 2
	filled := 0
	if r.total > 0 {
		filled = int(min(r.n, r.total) * int64(inner) / r.total)
	}
	return "[" + strings.Repeat("=", filled) + strings.Repeat(" ", inner-filled) + "]"
}

// stats are the figures of a row, width columns wide (or its state).
func stats(r row, width int, now time.Time) string {
	if s := r.state(now); s != "" {
		return clip(s, width)
	}
	// The total is unknown only to lock, reading a model without a size.
	s := fmt.Sprintf("     %8s %-8s", HumanSize(r.n), "")
	if r.total > 0 {
		s = fmt.Sprintf("%3d%% %8s/%-8s", min(r.n, r.total)*100/r.total, HumanSize(r.n), HumanSize(r.total))
	}
	if width >= statsWidths[1] {
		rate := "-"
		if r.rate >= 0 {
			rate = HumanSize(int64(r.rate)) + "/s"
		}
		s += fmt.Sprintf("  %*s", rateWidth, rate)
	}
	if width >= statsWidths[0] {
		left := "-"
		if r.rate > 0 && r.total > r.n {
			left = eta(time.Duration(float64(r.total-r.n) / r.rate * float64(time.Second)))
		}
		s += fmt.Sprintf("  %-*s", etaWidth, "ETA "+left)
	}
	return s
}

// eta prints a time left in seconds, minutes or hours: 12s, 3m05s, 1h02m.
func eta(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", max(s, 0))
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 100*3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
	}
	return "99h+"
}

// shorten fits name into width columns, with "…" in the middle: the start
// and the end of a model name tell models apart.
func shorten(name string, width int) string {
	r := []rune(name)
	if len(r) <= width {
		return name
	}
	if width < 2 {
		return "…"
	}
	head := (width - 1) / 2
	tail := width - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

func pad(s string, width int) string {
	return s + strings.Repeat(" ", max(width-utf8.RuneCountInString(s), 0))
}

// clip cuts s to width columns (each rune one column: names are ASCII,
// the only other rune drawn is "…").
func clip(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	if width < 1 {
		return ""
	}
	return string(r[:width-1]) + "…"
}

// rateOf is the rate over the samples of the last rateWindow: installed
// bytes per second, or -1 before a second of them.
func rateOf(samples []sample) float64 {
	if len(samples) < 2 {
		return -1
	}
	first, last := samples[0], samples[len(samples)-1]
	span := last.at.Sub(first.at)
	if span < time.Second/2 {
		return -1
	}
	return float64(last.n-first.n) / span.Seconds()
}

type sample struct {
	at time.Time
	n  int64
}

// addSample records n at now and forgets what is older than rateWindow
// (keeping one sample from before it, so the span covers the window).
func addSample(samples []sample, now time.Time, n int64) []sample {
	samples = append(samples, sample{now, n})
	i := 0
	for i+1 < len(samples) && now.Sub(samples[i+1].at) >= rateWindow {
		i++
	}
	return samples[i:]
}

// rowsUp is how many screen rows the lines drawn last take up at width: a
// terminal that reflows on a resize wraps a line wider than it now is.
func rowsUp(drawn []int, width int) int {
	rows := 0
	for _, n := range drawn {
		rows += max(1, (n+width-1)/max(width, 1))
	}
	return rows
}
