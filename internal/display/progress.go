package display

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/djok/modelfetch/internal/safetext"
	"github.com/djok/modelfetch/pkg/fetch"
)

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Mode is how progress is shown: not at all, as plain lines, or as bars.
type Mode int

const (
	ModeNone Mode = iota
	ModePlain
	ModeBar
)

// Progress is the fetch.Observer the CLI shows. On a terminal it draws one
// live line per artifact in flight (bars.go); on a pipe (docker build, CI)
// it prints plain lines, at most one per artifact every plainEvery; or
// nothing.
//
// A source given up while another is left is shown at once, "trying the next
// source"; the last source's failure is left to the final error lines, so
// each failure is printed once.
type Progress struct {
	mode Mode
	// warnings: sources given up on get their line even without progress
	// (--progress none); only --quiet drops them.
	warnings bool
	w        io.Writer
	// size is the terminal's width and height (0, 0 when unknown).
	size    func() (int, int)
	mu      sync.Mutex
	items   map[string]*item
	order   []string
	drawn   []int // the width of each line drawn last, to erase them
	printed map[string]bool
	retried map[string]*retryLines
	stop    chan struct{}
	done    chan struct{}
}

// retryLines throttles one artifact's retry lines like its progress lines:
// a server that fails every second must not fill a build log.
type retryLines struct {
	last   time.Time
	hidden int // retries since the last line, not shown
}

type item struct {
	total, n int64
	served   int64
	received int64
	start    time.Time
	last     time.Time // the last plain line
	retryAt  time.Time
	samples  []sample // for the bar's rate
}

// done is how far the artifact has come, in bytes of the file: what is
// installed, or what has come off the network when that is more (a ranged
// download's later chunks arrive before the one the decoder waits for; for
// a compressed source the installed bytes soon outrun the served ones), at
// most the total. The rate is measured on it, so that the ETA of a file whose
// first chunk lands last is not taken from the bytes installed until then.
func (it *item) done() int64 {
	d := max(it.n, it.received)
	if it.total > 0 {
		d = min(d, max(it.total, it.n))
	}
	return d
}

// minShownSource: a source shortened below this says too little to show.
const minShownSource = 16

const (
	plainEvery = 5 * time.Second
	redrawTick = 150 * time.Millisecond
)

// NewProgress shows the work on models. With bars, w is a terminal whose
// size is asked for at each redraw.
func NewProgress(w io.Writer, mode Mode, warnings bool) *Progress {
	p := &Progress{mode: mode, warnings: warnings, w: w, items: map[string]*item{}, printed: map[string]bool{}, retried: map[string]*retryLines{},
		size: func() (int, int) { return TerminalSize(w) }}
	if mode == ModeBar {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		sigs, stop := resizes()
		go func() {
			defer stop()
			p.loop(sigs)
		}()
	}
	return p
}

// TerminalSize is w's size when it is a terminal, else 80 columns.
func TerminalSize(w io.Writer) (width, height int) {
	if f, ok := w.(*os.File); ok {
		if width, height, err := term.GetSize(int(f.Fd())); err == nil && width > 0 {
			return width, height
		}
	}
	return 80, 0
}

func (p *Progress) Start(name string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.items[name] = &item{total: total, start: now, last: now}
	p.forgetOrder(name)
	p.order = append(p.order, name)
}

// Served: what the source sent so far, before decoding (fetch.ServedObserver).
func (p *Progress) Served(name string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if it := p.items[name]; it != nil {
		it.served = n
	}
}

// Received: what came off the network so far, in any order
// (fetch.ReceivedObserver).
func (p *Progress) Received(name string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if it := p.items[name]; it != nil {
		it.received = max(it.received, n)
		p.plainLine(name, it)
	}
}

func (p *Progress) Progress(name string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if it := p.items[name]; it != nil {
		it.n = n
		p.plainLine(name, it)
	}
}

// plainLine prints an artifact's plain progress line, at most one every
// plainEvery: the bytes done as the bar counts them (item.done), so a
// ranged download whose chunks come out of order is not shown a tenth as
// far along in a build log as on a terminal.
func (p *Progress) plainLine(name string, it *item) {
	now := time.Now()
	if p.mode != ModePlain || now.Sub(it.last) < plainEvery {
		return
	}
	it.last = now
	n := it.done()
	rate := float64(n) / now.Sub(it.start).Seconds()
	if it.total > 0 {
		fmt.Fprintf(p.w, "modelfetch: %s: %s of %s (%d%%), %s/s\n", name, HumanSize(n), HumanSize(it.total), n*100/it.total, HumanSize(int64(rate)))
	} else {
		fmt.Fprintf(p.w, "modelfetch: %s: %s, %s/s\n", name, HumanSize(n), HumanSize(int64(rate)))
	}
}

func (p *Progress) Retry(name string, err *fetch.SourceError, wait time.Duration) {
	if p.mode == ModeNone {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if it := p.items[name]; it != nil {
		it.retryAt = time.Now().Add(wait)
	}
	rl := p.retried[name]
	if rl == nil {
		rl = &retryLines{}
		p.retried[name] = rl
	}
	now := time.Now()
	if now.Sub(rl.last) < plainEvery {
		rl.hidden++
		return
	}
	rl.last = now
	more := ""
	if rl.hidden > 0 {
		more = fmt.Sprintf(" (and %d more retries since the last line)", rl.hidden)
		if rl.hidden == 1 {
			more = " (and 1 more retry since the last line)"
		}
		rl.hidden = 0
	}
	p.println(fmt.Sprintf("modelfetch: %s: %s: retrying in %s: %s%s", name, err.Source, wait.Round(time.Millisecond), err.Reason(), more))
}

func (p *Progress) SourceFailed(name string, err *fetch.SourceError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.warnings || !err.Next {
		return
	}
	line := name + ": " + OneLine(err)
	p.printed[line] = true
	p.println("modelfetch: " + line + "; trying the next source")
}

// Shown reports whether a failure line was already printed during the run.
func (p *Progress) Shown(line string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.printed[line]
}

// Drop forgets an artifact without a line.
func (p *Progress) Drop(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forget(name)
}

// forget removes an artifact (the caller holds mu).
func (p *Progress) forget(name string) {
	delete(p.items, name)
	p.forgetOrder(name)
}

func (p *Progress) forgetOrder(name string) {
	for i, n := range p.order {
		if n == name {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

func (p *Progress) Done(r fetch.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forget(r.Name)
	if p.mode == ModeNone {
		return
	}
	switch r.Status {
	case fetch.StatusFailed:
		// Said once, by the error lines at the end.
	case fetch.StatusUpToDate:
		if r.Fixed {
			p.println(fmt.Sprintf("modelfetch: %s: up to date (mode and owner set again)", r.Name))
		} else {
			p.println(fmt.Sprintf("modelfetch: %s: up to date", r.Name))
		}
	default:
		width := 0
		if p.mode == ModeBar {
			width, _ = p.size()
		}
		p.println(doneLine(r, width))
	}
}

// doneLine says how an artifact was installed, for a terminal width columns
// wide (0: a log, where the line is whole). Among the bars the line must not
// wrap: the name is shortened if it must be, then the source, which is left
// to the summary when too little of it would show.
func doneLine(r fetch.Result, width int) string {
	name, what := r.Name, fmt.Sprintf(": %s %s", r.Status, HumanSize(r.Size))
	tail := fmt.Sprintf(" in %.1fs", r.Duration.Seconds())
	if width <= 0 {
		return "modelfetch: " + name + what + " from " + Dash(r.Source) + tail
	}
	fixed := utf8.RuneCountInString("modelfetch: " + what + tail)
	head := "modelfetch: " + shorten(name, max(width-1-fixed, minNameCell)) + what
	room := width - 1 - utf8.RuneCountInString(head+tail+" from ")
	if room < minShownSource {
		return head + tail
	}
	return head + " from " + shorten(Dash(r.Source), room) + tail
}

// OneLine is an error's first line.
func OneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// println prints a line above the bars (the caller holds mu): the bars are
// erased first and drawn again at the next tick. Among the bars a line never
// wraps: a longer one (a retry's reason, a warning) is shortened in the
// middle; the error lines at the end of the run say failures whole.
func (p *Progress) println(line string) {
	width, _ := p.size()
	line = safetext.Escape(line)
	if p.mode == ModeBar {
		line = shorten(line, width-1)
	}
	fmt.Fprint(p.w, p.erase(width)+line+"\n")
}

// erase returns what erases the lines drawn last, at the terminal's width
// now (the caller holds mu), leaving the cursor where the first one began.
// It erases the line the cursor is on first (below the bars, where the
// terminal echoes ^C), then row by row, upwards: erasing "to the end of the
// screen" from its top corner is a clear screen, which tmux and others
// scroll into the history.
func (p *Progress) erase(width int) string {
	if p.mode != ModeBar || len(p.drawn) == 0 {
		return ""
	}
	rows := rowsUp(p.drawn, width)
	p.drawn = p.drawn[:0]
	return "\r\x1b[2K" + strings.Repeat("\x1b[1A\x1b[2K", rows)
}

// redraw draws every artifact in flight, in one write (the caller holds mu).
func (p *Progress) redraw(now time.Time) {
	width, height := p.size()
	rows := make([]row, 0, len(p.order))
	for _, name := range p.order {
		it := p.items[name]
		done := it.done()
		it.samples = addSample(it.samples, now, done)
		if it.n == 0 {
			done = 0 // a state (connecting, downloading, decoding) rather than a bar
		}
		rows = append(rows, row{name: name, total: it.total, n: done, served: it.served, received: it.received, rate: rateOf(it.samples), retryAt: it.retryAt})
	}
	var b strings.Builder
	b.WriteString(p.erase(width))
	for _, l := range frame(rows, width, height, now) {
		b.WriteString(l + "\n")
		p.drawn = append(p.drawn, utf8.RuneCountInString(l))
	}
	fmt.Fprint(p.w, b.String())
}

func (p *Progress) loop(resized <-chan os.Signal) {
	defer close(p.done)
	t := time.NewTicker(redrawTick)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		case <-resized:
		}
		p.mu.Lock()
		p.redraw(time.Now())
		p.mu.Unlock()
	}
}

// Finish stops drawing and erases the bars, before the summary or the error.
func (p *Progress) Finish() {
	if p.mode != ModeBar {
		return
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	width, _ := p.size()
	fmt.Fprint(p.w, p.erase(width))
	p.mu.Unlock()
}
