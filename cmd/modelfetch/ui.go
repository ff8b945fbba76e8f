package main

// Output rules, all in this file: progress and messages go to stderr, the
// --json document alone goes to stdout. Messages are one line each, lower
// case, with no trailing period: "modelfetch: error: ..." followed by
// "modelfetch: hint: ..." lines where a next step exists. URLs are redacted
// (user info and query strings) before they get here.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

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
	var ue *usageError
	fromManifest := func(e *manifest.Error) problem {
		return problem{Message: e.Error(), File: e.File, Line: e.Line, Key: e.Key, Hint: e.Hint}
	}
	switch {
	case errors.As(err, &ml):
		out := make([]problem, len(ml))
		for i, e := range ml {
			out[i] = fromManifest(e)
		}
		return out
	case errors.As(err, &me):
		return []problem{fromManifest(me)}
	}
	var out []problem
	for _, line := range strings.Split(err.Error(), "\n") {
		out = append(out, problem{Message: line})
	}
	if errors.As(err, &ue) && ue.hint != "" {
		out[len(out)-1].Hint = ue.hint
	}
	return out
}

// printError prints a command's error, one line per problem, then each
// distinct hint once.
func (u *ui) printError(err error) {
	ps := problems(err)
	seen := map[string]bool{}
	for _, p := range ps {
		u.errorf("%s", p.Message)
	}
	for _, p := range ps {
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
	live           *progress // what was already shown during the run, or nil
	hints          func([]fetch.Result) []string
}

func (r reporter) report(results []fetch.Result, dry bool) error {
	code := resultsExit(results)
	u := &ui{stderr: r.stderr}
	if r.out.json {
		if err := writeJSON(r.stdout, r.command, code, results, nil); err != nil {
			return err
		}
	} else if !r.out.quiet {
		u.summary(results, dry)
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
	if code != exitOK {
		return &exitError{code: code, err: errReported}
	}
	return nil
}

// statusText is a status as the summary shows it: in words, as the progress
// lines say it.
func statusText(s fetch.Status) string {
	if s == fetch.StatusUpToDate {
		return "up to date"
	}
	return string(s)
}

// summary prints a table: artifact, size, status, source, time, throughput.
func (u *ui) summary(results []fetch.Result, dry bool) {
	if len(results) == 0 {
		fmt.Fprintln(u.stderr, "modelfetch: nothing to do: no models selected")
		return
	}
	tw := tabwriter.NewWriter(u.stderr, 0, 4, 2, ' ', 0)
	if dry {
		fmt.Fprintln(tw, "artifact\tsize\twould\tdestination\tsource")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, humanSize(r.Size), statusText(r.Status), r.Dest, dash(r.Source))
		}
		tw.Flush()
		return
	}
	fmt.Fprintln(tw, "artifact\tsize\tstatus\tsource\ttime\tthroughput")
	for _, r := range results {
		rate := "-"
		switch {
		case r.Status == fetch.StatusFailed:
		case r.Served > 0 && r.Duration > 0:
			rate = humanSize(int64(float64(r.Served)/r.Duration.Seconds())) + "/s"
		case r.Status == fetch.StatusFromCache && r.Duration > 0 && r.Size > 0:
			rate = humanSize(int64(float64(r.Size)/r.Duration.Seconds())) + "/s"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1fs\t%s\n", r.Name, humanSize(r.Size), statusText(r.Status), dash(r.Source), r.Duration.Seconds(), rate)
	}
	tw.Flush()
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
	Name        string     `json:"name"`
	Status      string     `json:"status"`
	Path        string     `json:"path,omitempty"`
	Size        int64      `json:"size"`
	SHA256      string     `json:"sha256"`
	Source      string     `json:"source,omitempty"`
	ServedBytes int64      `json:"served_bytes"`
	Retries     int        `json:"retries"`
	Seconds     float64    `json:"seconds"`
	Error       *jsonError `json:"error,omitempty"`
}

type jsonError struct {
	Kind     string   `json:"kind"`
	Messages []string `json:"messages"`
}

var kindNames = map[fetch.Kind]string{
	fetch.KindNetwork: "network", fetch.KindIntegrity: "integrity",
	fetch.KindLocal: "local", fetch.KindCanceled: "interrupted",
}

// writeJSON prints the result document: the artifacts, and the problems of
// a run that failed before it had any (a usage or manifest error).
func writeJSON(w io.Writer, command string, code int, results []fetch.Result, errs []problem) error {
	doc := struct {
		Command   string       `json:"command"`
		OK        bool         `json:"ok"`
		ExitCode  int          `json:"exit_code"`
		Artifacts []jsonResult `json:"artifacts"`
		Errors    []problem    `json:"errors"`
	}{Command: command, OK: code == exitOK, ExitCode: code, Artifacts: []jsonResult{}, Errors: errs}
	if doc.Errors == nil {
		doc.Errors = []problem{}
	}
	for _, r := range results {
		jr := jsonResult{Name: r.Name, Status: string(r.Status), Path: r.Dest, Size: r.Size,
			SHA256: r.Digest.String(), Source: r.Source, ServedBytes: r.Served, Retries: r.Retries,
			Seconds: float64(r.Duration.Milliseconds()) / 1000}
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

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

type progressMode int

const (
	progressNone progressMode = iota
	progressPlain
	progressBar
)

// progress is the fetch.Observer the CLI shows. On a terminal it draws one
// live bar per artifact in flight; on a pipe (docker build, CI) it prints
// plain lines, at most one per artifact every plainEvery; or nothing.
//
// A source given up while another is left is shown at once, "trying the next
// source"; the last source's failure is left to the final error lines, so
// each failure is printed once.
type progress struct {
	mode    progressMode
	w       io.Writer
	mu      sync.Mutex
	items   map[string]*item
	order   []string
	lines   int            // bar lines drawn last time
	sources map[string]int // artifact -> sources not yet given up
	printed map[string]bool
	stop    chan struct{}
	done    chan struct{}
}

type item struct {
	total, n int64
	start    time.Time
	last     time.Time
	bar      *progressbar.ProgressBar
}

const plainEvery = 5 * time.Second

// newProgress shows the work on models (whose sources it counts).
func newProgress(w io.Writer, mode progressMode, models []*manifest.Model) *progress {
	p := &progress{mode: mode, w: w, items: map[string]*item{}, sources: map[string]int{}, printed: map[string]bool{}}
	for _, m := range models {
		p.sources[m.Name] = len(m.Sources)
	}
	if mode == progressBar {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.loop()
	}
	return p
}

func (p *progress) Start(name string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	it := &item{total: total, start: time.Now(), last: time.Now()}
	p.items[name] = it
	if p.mode == progressBar {
		it.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(io.Discard),
			progressbar.OptionSetDescription(name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(0),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetRenderBlankState(true),
		)
		p.order = append(p.order, name)
	}
}

func (p *progress) Progress(name string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	it := p.items[name]
	if it == nil {
		return
	}
	it.n = n
	switch p.mode {
	case progressBar:
		_ = it.bar.Set64(n)
	case progressPlain:
		if now := time.Now(); now.Sub(it.last) >= plainEvery {
			it.last = now
			rate := float64(n) / now.Sub(it.start).Seconds()
			if it.total > 0 {
				fmt.Fprintf(p.w, "modelfetch: %s: %s of %s (%d%%), %s/s\n", name, humanSize(n), humanSize(it.total), n*100/it.total, humanSize(int64(rate)))
			} else {
				fmt.Fprintf(p.w, "modelfetch: %s: %s, %s/s\n", name, humanSize(n), humanSize(int64(rate)))
			}
		}
	}
}

func (p *progress) Retry(name string, err *fetch.SourceError, wait time.Duration) {
	if p.mode == progressNone {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearBars()
	fmt.Fprintf(p.w, "modelfetch: %s: %s: retrying in %s: %s\n", name, err.Source, wait.Round(time.Millisecond), err.Reason())
}

func (p *progress) SourceFailed(name string, err *fetch.SourceError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sources[name]--
	if p.mode == progressNone || p.sources[name] <= 0 {
		return
	}
	p.clearBars()
	line := name + ": " + oneLine(err)
	p.printed[line] = true
	fmt.Fprintf(p.w, "modelfetch: %s; trying the next source\n", line)
}

// shown reports whether a failure line was already printed during the run.
func (p *progress) shown(line string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.printed[line]
}

// drop forgets an artifact without a line.
func (p *progress) drop(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forget(name)
}

// forget removes an artifact's bar (the caller holds mu).
func (p *progress) forget(name string) {
	delete(p.items, name)
	for i, n := range p.order {
		if n == name {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

func (p *progress) Done(r fetch.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forget(r.Name)
	if p.mode == progressNone {
		return
	}
	p.clearBars()
	switch r.Status {
	case fetch.StatusFailed:
		fmt.Fprintf(p.w, "modelfetch: %s: failed\n", r.Name)
	case fetch.StatusUpToDate:
		fmt.Fprintf(p.w, "modelfetch: %s: up to date\n", r.Name)
	default:
		fmt.Fprintf(p.w, "modelfetch: %s: %s %s from %s in %.1fs\n", r.Name, r.Status, humanSize(r.Size), dash(r.Source), r.Duration.Seconds())
	}
}

func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// clearBars erases the bars drawn last (the caller holds mu).
func (p *progress) clearBars() {
	if p.mode != progressBar || p.lines == 0 {
		return
	}
	fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.lines)
	p.lines = 0
}

func (p *progress) loop() {
	defer close(p.done)
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.clearBars()
			for _, name := range p.order {
				fmt.Fprintf(p.w, "\x1b[2K%s\n", p.items[name].bar.String())
				p.lines++
			}
			p.mu.Unlock()
		}
	}
}

// finish stops drawing and erases the bars, before the summary.
func (p *progress) finish() {
	if p.mode != progressBar {
		return
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	p.clearBars()
	p.mu.Unlock()
}
