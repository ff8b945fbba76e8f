package main

// Output rules (this file, progress.go for live progress, hints.go for next
// steps): progress and messages go to stderr, the --json document alone goes
// to stdout. Messages are one line each, lower case, with no trailing period:
// "modelfetch: error: ..." followed by "modelfetch: hint: ..." lines where a
// next step exists. URLs are redacted (user info and query strings) before
// they get here.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

type ui struct {
	stderr io.Writer
}

func (u *ui) errorf(format string, args ...any) {
	fmt.Fprintf(u.stderr, "modelfetch: error: "+format+"\n", args...)
}

func (u *ui) hintf(format string, args ...any) {
	fmt.Fprintf(u.stderr, "modelfetch: hint: "+format+"\n", args...)
}

// warnf prints something that failed without failing the run.
func (u *ui) warnf(format string, args ...any) {
	fmt.Fprintf(u.stderr, "modelfetch: warning: "+format+"\n", args...)
}

// infof prints a message that is not an error, unless quiet.
func (u *ui) infof(quiet bool, format string, args ...any) {
	if !quiet {
		fmt.Fprintf(u.stderr, "modelfetch: "+format+"\n", args...)
	}
}

// problem is one line of a command's error, with where it is and what to do.
type problem struct {
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Key     string `json:"key,omitempty"`
	Hint    string `json:"hint,omitempty"`
}

// problems splits a command's error into its lines.
func problems(err error) []problem {
	var ml manifest.ErrorList
	var me *manifest.Error
	var h *hinted
	fromManifest := func(e *manifest.Error) problem {
		return problem{Message: e.Error(), File: e.File, Line: e.Line, Key: e.Key, Hint: e.Hint}
	}
	switch {
	case errors.As(err, &ml):
		out := make([]problem, len(ml))
		for i, e := range ml {
			out[i] = fromManifest(e)
		}
		// In file order; a line without a place ("and N more") stays last.
		sort.SliceStable(out, func(i, j int) bool {
			li, lj := out[i].Line, out[j].Line
			return li > 0 && (lj == 0 || li < lj)
		})
		return out
	case errors.As(err, &me):
		return []problem{fromManifest(me)}
	}
	var out []problem
	for _, line := range strings.Split(err.Error(), "\n") {
		out = append(out, problem{Message: line})
	}
	if errors.As(err, &h) {
		out[len(out)-1].Hint = h.hint
	}
	return out
}

// printError prints a command's error, one line per problem, each followed
// by its hint (a hint already given is not repeated).
func (u *ui) printError(err error) {
	seen := map[string]bool{}
	for _, p := range problems(err) {
		u.errorf("%s", p.Message)
		if p.Hint != "" && !seen[p.Hint] {
			seen[p.Hint] = true
			u.hintf("%s", p.Hint)
		}
	}
}

// reporter ends a command that produced results: the summary (or the JSON
// document), each failure once, the hints, and the exit status.
type reporter struct {
	stdout, stderr io.Writer
	command        string
	out            outputOptions
	live           *progress           // what was already shown during the run, or nil
	urls           map[string][]string // by model: the URLs tried, after the url rules
	hints          func([]fetch.Result) []string
	push           *jsonPush // what fetch --mirror-push did, for --json
}

func (r reporter) report(results []fetch.Result, dry bool) error {
	kind := resultsKind(results)
	code := kind.code()
	u := &ui{stderr: r.stderr}
	if r.out.json {
		if err := writeJSON(r.stdout, r.command, code, results, r.urls, nil, r.push); err != nil {
			return err
		}
	} else if !r.out.quiet {
		u.summary(results, r.command, dry)
	}
	if !r.out.quiet {
		for _, res := range results {
			for _, w := range res.Warnings {
				u.warnf("%s: %s", res.Name, oneLine(w))
			}
		}
	}
	for _, res := range results {
		var fe *fetch.Error
		if res.Status != fetch.StatusFailed || !errors.As(res.Err, &fe) {
			continue
		}
		for _, l := range fe.Lines() {
			if !r.live.shown(l) {
				u.errorf("%s", l)
			}
		}
	}
	if r.hints != nil {
		for _, h := range r.hints(results) {
			u.hintf("%s", h)
		}
	}
	return reported(kind)
}

// statusText is a status as the summary shows it: in words, as the progress
// lines say it.
func statusText(s fetch.Status) string {
	if s == fetch.StatusUpToDate {
		return "up to date"
	}
	return string(s)
}

// summary prints a table: artifact, size, status, source, time and
// throughput, in installed bytes per second as the live progress counts
// them (verify: artifact, size and status; it reads no source).
func (u *ui) summary(results []fetch.Result, command string, dry bool) {
	if len(results) == 0 {
		fmt.Fprintln(u.stderr, "modelfetch: nothing to do: no models selected")
		return
	}
	tw := tabwriter.NewWriter(u.stderr, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch {
	case dry:
		fmt.Fprintln(tw, "artifact\tsize\twould\tdestination\tsource")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, humanSize(r.Size), statusText(r.Status), r.Dest, dash(r.Source))
		}
	case command == "verify":
		fmt.Fprintln(tw, "artifact\tsize\tstatus")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, humanSize(r.Size), statusText(r.Status))
		}
	default:
		rows := [][]string{{"artifact", "size", "status", "source", "time", "throughput"}}
		for _, r := range results {
			rate := "-"
			moved := r.Status == fetch.StatusInstalled || r.Status == fetch.StatusFromCache || r.Status == fetch.StatusWarmed
			if moved && r.Size > 0 && r.Duration > 0 {
				rate = humanSize(int64(float64(r.Size)/r.Duration.Seconds())) + "/s"
			}
			rows = append(rows, []string{r.Name, humanSize(r.Size), statusText(r.Status), dash(r.Source), fmt.Sprintf("%.1fs", r.Duration.Seconds()), rate})
		}
		fitColumn(rows, 3, ttyWidth(u.stderr))
		for _, row := range rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
	}
}

// minSourceWidth is as far as a source is shortened to fit a terminal.
const minSourceWidth = 24

// fitColumn shortens the cells of column col, in the middle (a URL's host
// and file name stay), so that the table's lines fit a terminal width
// columns wide (0: not a terminal, nothing shortened; a log keeps whole
// URLs). It gives up at minSourceWidth: a table of long names still wraps.
func fitColumn(rows [][]string, col, width int) {
	if width <= 0 || len(rows) == 0 {
		return
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	line := 2 * (len(widths) - 1)
	for _, w := range widths {
		line += w
	}
	excess := line - (width - 1)
	if excess <= 0 {
		return
	}
	target := max(widths[col]-excess, minSourceWidth)
	for _, row := range rows[1:] {
		if utf8.RuneCountInString(row[col]) > target {
			row[col] = shorten(row[col], target)
		}
	}
}

// ttyWidth is w's width when it is a terminal, else 0.
func ttyWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		width, _ := terminalSize(f)
		return width
	}
	return 0
}

// plural is "1 blob", "2 blobs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanSize prints decimal units, as download tools do.
func humanSize(n int64) string {
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

// jsonResult is one artifact in the --json document.
type jsonResult struct {
	Name        string   `json:"name"`
	Status      string   `json:"status"`
	Path        string   `json:"path,omitempty"`
	Size        int64    `json:"size"`
	SHA256      string   `json:"sha256"`
	Source      string   `json:"source,omitempty"`
	Mirror      string   `json:"mirror,omitempty"` // the mirror Source belongs to
	URLs        []string `json:"urls,omitempty"`   // the URLs tried in order, after the url rules
	ServedBytes int64    `json:"served_bytes"`
	Retries     int      `json:"retries"`
	Seconds     float64  `json:"seconds"`
	// Fixed: the bytes were right, the mode or owner was set again.
	Fixed    bool       `json:"fixed,omitempty"`
	Warnings []string   `json:"warnings,omitempty"`
	Error    *jsonError `json:"error,omitempty"`
}

type jsonError struct {
	Kind     string   `json:"kind"`
	Messages []string `json:"messages"`
}

var kindNames = map[fetch.Kind]string{
	fetch.KindNetwork: "network", fetch.KindIntegrity: "integrity",
	fetch.KindLocal: "local", fetch.KindCanceled: "interrupted",
}

// writeJSON prints the result document: the artifacts (with the URLs each
// is tried from, when known), and the problems of a run that failed before
// it had any (a usage or manifest error).
func writeJSON(w io.Writer, command string, code int, results []fetch.Result, urls map[string][]string, errs []problem, push *jsonPush) error {
	doc := struct {
		Command    string       `json:"command"`
		OK         bool         `json:"ok"`
		ExitCode   int          `json:"exit_code"`
		Artifacts  []jsonResult `json:"artifacts"`
		Errors     []problem    `json:"errors"`
		MirrorPush *jsonPush    `json:"mirror_push,omitempty"`
	}{Command: command, OK: code == exitOK, ExitCode: code, Artifacts: []jsonResult{}, Errors: errs, MirrorPush: push}
	if doc.Errors == nil {
		doc.Errors = []problem{}
	}
	for _, r := range results {
		jr := jsonResult{Name: r.Name, Status: string(r.Status), Path: r.Dest, Size: r.Size,
			SHA256: r.Digest.String(), Source: r.Source, Mirror: r.Mirror, URLs: urls[r.Name], ServedBytes: r.Served, Retries: r.Retries,
			Seconds: float64(r.Duration.Milliseconds()) / 1000, Fixed: r.Fixed}
		for _, w := range r.Warnings {
			jr.Warnings = append(jr.Warnings, oneLine(w))
		}
		var fe *fetch.Error
		if errors.As(r.Err, &fe) {
			jr.Error = &jsonError{Kind: kindNames[fe.Kind], Messages: fe.Lines()}
		}
		doc.Artifacts = append(doc.Artifacts, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
