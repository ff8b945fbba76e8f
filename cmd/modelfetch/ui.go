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

// printError prints a command's error, one line per problem, with hints.
func (u *ui) printError(err error) {
	var ml manifest.ErrorList
	var me *manifest.Error
	switch {
	case errors.As(err, &ml):
		hints := map[string]bool{}
		for _, e := range ml {
			u.errorf("%s", e.Error())
			if e.Hint != "" {
				hints[e.Hint] = true
			}
		}
		for _, e := range ml {
			if hints[e.Hint] {
				u.hintf("%s", e.Hint)
				delete(hints, e.Hint)
			}
		}
	case errors.As(err, &me):
		u.errorf("%s", me.Error())
		if me.Hint != "" {
			u.hintf("%s", me.Hint)
		}
	default:
		for _, line := range strings.Split(err.Error(), "\n") {
			u.errorf("%s", line)
		}
	}
}

// resultErrors prints each failed artifact's lines and the hints they call for.
func (u *ui) resultErrors(results []fetch.Result) {
	integrity, offline := false, false
	for _, r := range results {
		var fe *fetch.Error
		if r.Status != fetch.StatusFailed || !errors.As(r.Err, &fe) {
			continue
		}
		for _, l := range fe.Lines() {
			u.errorf("%s", l)
			offline = offline || strings.Contains(l, "offline")
		}
		integrity = integrity || fe.Kind == fetch.KindIntegrity
	}
	if integrity {
		u.hintf("a source served bytes that do not match the manifest; if the model was updated upstream on purpose, run `modelfetch lock --update=NAME NAME` and review the diff")
	}
	if offline {
		u.hintf("run `modelfetch cache warm` with network access first, or drop --offline")
	}
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, humanSize(r.Size), r.Status, r.Dest, dash(r.Source))
		}
		tw.Flush()
		return
	}
	fmt.Fprintln(tw, "artifact\tsize\tstatus\tsource\ttime\tthroughput")
	for _, r := range results {
		rate := "-"
		if r.Served > 0 && r.Duration > 0 {
			rate = humanSize(int64(float64(r.Served)/r.Duration.Seconds())) + "/s"
		} else if r.Status == fetch.StatusFromCache && r.Duration > 0 && r.Size > 0 {
			rate = humanSize(int64(float64(r.Size)/r.Duration.Seconds())) + "/s"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1fs\t%s\n", r.Name, humanSize(r.Size), r.Status, dash(r.Source), r.Duration.Seconds(), rate)
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

func writeJSON(w io.Writer, command string, code int, results []fetch.Result) error {
	doc := struct {
		Command   string       `json:"command"`
		OK        bool         `json:"ok"`
		ExitCode  int          `json:"exit_code"`
		Artifacts []jsonResult `json:"artifacts"`
	}{Command: command, OK: code == exitOK, ExitCode: code, Artifacts: []jsonResult{}}
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
type progress struct {
	mode  progressMode
	w     io.Writer
	mu    sync.Mutex
	items map[string]*item
	order []string
	lines int // bar lines drawn last time
	stop  chan struct{}
	done  chan struct{}
}

type item struct {
	total, n int64
	start    time.Time
	last     time.Time
	bar      *progressbar.ProgressBar
}

const plainEvery = 5 * time.Second

func newProgress(w io.Writer, mode progressMode) *progress {
	p := &progress{mode: mode, w: w, items: map[string]*item{}}
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
	if p.mode == progressNone {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearBars()
	fmt.Fprintf(p.w, "modelfetch: %s: %s\n", name, oneLine(err))
}

func (p *progress) Done(r fetch.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.items, r.Name)
	for i, n := range p.order {
		if n == r.Name {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
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
