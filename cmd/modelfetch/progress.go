package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/djok/modelfetch/pkg/fetch"
)

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
	mode progressMode
	// warnings: sources given up on get their line even without progress
	// (--progress none); only --quiet drops them.
	warnings bool
	w        io.Writer
	mu       sync.Mutex
	items    map[string]*item
	order    []string
	lines    int // bar lines drawn last time
	printed  map[string]bool
	retried  map[string]*retryLines
	stop     chan struct{}
	done     chan struct{}
}

// retryLines throttles one artifact's retry lines like its progress lines:
// a server that fails every second must not fill a build log.
type retryLines struct {
	last   time.Time
	hidden int // retries since the last line, not shown
}

type item struct {
	total, n int64
	start    time.Time
	last     time.Time
	bar      *progressbar.ProgressBar
}

const plainEvery = 5 * time.Second

// newProgress shows the work on models.
func newProgress(w io.Writer, mode progressMode, warnings bool) *progress {
	p := &progress{mode: mode, warnings: warnings, w: w, items: map[string]*item{}, printed: map[string]bool{}, retried: map[string]*retryLines{}}
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
	rl := p.retried[name]
	if rl == nil {
		rl = &retryLines{}
		p.retried[name] = rl
	}
	if now := time.Now(); now.Sub(rl.last) < plainEvery {
		rl.hidden++
		return
	} else {
		rl.last = now
	}
	more := ""
	if rl.hidden > 0 {
		more = fmt.Sprintf(" (and %d more retries since the last line)", rl.hidden)
		rl.hidden = 0
	}
	p.clearBars()
	fmt.Fprintf(p.w, "modelfetch: %s: %s: retrying in %s: %s%s\n", name, err.Source, wait.Round(time.Millisecond), err.Reason(), more)
}

func (p *progress) SourceFailed(name string, err *fetch.SourceError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.warnings || !err.Next {
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
		// Said once, by the error lines at the end.
	case fetch.StatusUpToDate:
		if r.Fixed {
			fmt.Fprintf(p.w, "modelfetch: %s: up to date (mode and owner set again)\n", r.Name)
		} else {
			fmt.Fprintf(p.w, "modelfetch: %s: up to date\n", r.Name)
		}
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
