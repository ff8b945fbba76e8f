package display

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/djok/modelfetch/pkg/fetch"
)

// StatusText is a status as the summary shows it: in words, as the progress
// lines say it.
func StatusText(s fetch.Status) string {
	if s == fetch.StatusUpToDate {
		return "up to date"
	}
	return string(s)
}

// Summary prints a table: artifact, size, status, source, time and
// throughput, in installed bytes per second as the live progress counts
// them (verify: artifact, size and status; it reads no source).
func (u *UI) Summary(results []fetch.Result, command string, dry bool) {
	if len(results) == 0 {
		fmt.Fprintln(u.Stderr, "modelfetch: nothing to do: no models selected")
		return
	}
	tw := tabwriter.NewWriter(u.Stderr, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch {
	case dry:
		fmt.Fprintln(tw, "artifact\tsize\twould\tdestination\tsource")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, HumanSize(r.Size), StatusText(resultStatus(r)), r.Dest, Dash(r.Source))
		}
	case command == "verify":
		fmt.Fprintln(tw, "artifact\tsize\tstatus")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, HumanSize(r.Size), StatusText(resultStatus(r)))
		}
	default:
		rows := [][]string{{"artifact", "size", "status", "source", "time", "throughput"}}
		for _, r := range results {
			rate := "-"
			moved := r.Status == fetch.StatusInstalled || r.Status == fetch.StatusFromCache || r.Status == fetch.StatusWarmed
			if moved && r.Size > 0 && r.Duration > 0 {
				rate = HumanSize(int64(float64(r.Size)/r.Duration.Seconds())) + "/s"
			}
			rows = append(rows, []string{r.Name, HumanSize(r.Size), StatusText(resultStatus(r)), Dash(r.Source), fmt.Sprintf("%.1fs", r.Duration.Seconds()), rate})
		}
		for _, row := range fitColumns(rows, ttyWidth(u.Stderr)) {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
	}
}

// How far the summary's cells are shortened to fit a terminal: the source
// first (its host and file name stay), then the name, then the source again
// down to minShownSource; a table that still does not fit loses the time and
// throughput columns, which the installed lines above it have said already.
const (
	minSourceWidth = 24
	minNameCell    = 16
)

// fitColumns makes the table's lines fit a terminal width columns wide (0:
// not a terminal, nothing shortened: a log keeps whole URLs and names). rows
// are the summary's: artifact, size, status, source, time, throughput.
func fitColumns(rows [][]string, width int) [][]string {
	if width <= 0 || len(rows) == 0 {
		return rows
	}
	excess := tableWidth(rows) - (width - 1)
	excess -= shortenColumn(rows, 3, excess, minSourceWidth)
	excess -= shortenColumn(rows, 0, excess, minNameCell)
	excess -= shortenColumn(rows, 3, excess, minShownSource)
	if excess > 0 && len(rows[0]) > 4 {
		for i, row := range rows {
			rows[i] = row[:4]
		}
	}
	return rows
}

// tableWidth is the width of the table's lines: its columns at their
// widest, two spaces apart.
func tableWidth(rows [][]string) int {
	line := 0
	for i := range rows[0] {
		line += columnWidth(rows, i) + 2
	}
	return line - 2
}

func columnWidth(rows [][]string, col int) int {
	w := 0
	for _, row := range rows {
		w = max(w, utf8.RuneCountInString(row[col]))
	}
	return w
}

// shortenColumn shortens the cells of column col (not its heading) in the
// middle by up to excess columns, not below floor, and returns how many
// columns the table lost.
func shortenColumn(rows [][]string, col, excess, floor int) int {
	if excess <= 0 {
		return 0
	}
	before := columnWidth(rows, col)
	target := max(before-excess, floor, utf8.RuneCountInString(rows[0][col]))
	for _, row := range rows[1:] {
		if utf8.RuneCountInString(row[col]) > target {
			row[col] = shorten(row[col], target)
		}
	}
	return before - columnWidth(rows, col)
}

// ttyWidth is w's width when it is a terminal, else 0.
func ttyWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok && IsTerminal(f) {
		width, _ := TerminalSize(f)
		return width
	}
	return 0
}

// Plural is "1 blob", "2 blobs".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// HumanSize prints decimal units, as download tools do.
func HumanSize(n int64) string {
	if n < 0 {
		return "?"
	}
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", f, " kMGT"[i])
}
