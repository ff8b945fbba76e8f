// Package lock computes the sha256 and size values a manifest should record,
// by downloading what its sources serve, and decides what may be written.
//
// It is the only way digests get into models.toml, so it is conservative: a
// recorded value that no longer matches what the sources serve is reported
// and kept unless the caller asks to update it, and every source of a model
// must serve the same installed bytes. Lock never writes a file; it returns
// the edits (see manifest.Apply) and the findings.
package lock

import (
	"context"
	"errors"
	"fmt"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Options say what to lock and how.
type Options struct {
	// Named lists models the user named; they are checked against their
	// sources even when fully locked. Empty: only incomplete models are fetched.
	Named map[string]bool
	// Update allows replacing recorded values for these models; UpdateAll
	// for every model.
	Update    map[string]bool
	UpdateAll bool
	// FirstSource stops at the first source that works instead of checking
	// that every source serves the same bytes.
	FirstSource bool
	// Check changes nothing: every selected model is checked, and missing
	// values are findings rather than edits.
	Check bool
	// MaxSize bounds the installed bytes read from a source when the model
	// declares no size that can be trusted (none recorded, no sha256 beside
	// it, or the model is being updated); 0 means DefaultMaxSize. A model's
	// recorded size bounds its own probes otherwise.
	MaxSize int64
	// Resolver pins the moving references of hub sources (hub.go); nil
	// pins nothing.
	Resolver Resolver
	// Jobs is how many models are read at once (jobs.go); 0 means 1. The
	// Prober and the Resolver are then called from as many goroutines at
	// once.
	Jobs int
}

// DefaultMaxSize is the bound on what a probe decodes when neither the
// manifest nor the caller gives one: 4 GiB, above the largest model files
// in common use (a few GB), far below what a decompression bomb produces.
const DefaultMaxSize int64 = 4 << 30

// Kind classifies a finding.
type Kind int

// Kinds of finding.
const (
	// Incomplete: a value is missing (only reported with Check).
	Incomplete Kind = iota + 1
	// Changed: the sources agree on bytes other than the recorded ones.
	Changed
	// Disagrees: a source serves other bytes than the others (or the record).
	Disagrees
	// Unreachable: a source could not be read.
	Unreachable
	// TooLarge: a source serves more bytes than the bound of its probe (the
	// recorded size, or MaxSize).
	TooLarge
)

// Finding is one problem, naming the model and (where there is one) the source.
type Finding struct {
	Model  string
	Source string // redacted URL, or ""
	Kind   Kind
	Key    string // "sha256" or "size" for Changed/Disagrees/Incomplete
	Old    string // recorded value
	New    string // served value
	Err    error  // for Unreachable
	Kept   bool   // Changed: the old value was kept (no update asked)
	Limit  int64  // TooLarge: the bound that was passed
	// LimitFrom says where Limit came from: "size" (the manifest's) or
	// "max-size".
	LimitFrom string
}

func (f Finding) String() string {
	prefix := f.Model + ": "
	if f.Source != "" {
		prefix += f.Source + ": "
	}
	switch f.Kind {
	case Incomplete:
		return prefix + "no " + f.Key + " recorded"
	case Changed:
		s := fmt.Sprintf("%sserves %s %s, the manifest records %s", prefix, f.Key, f.New, f.Old)
		if f.Kept {
			s += " (kept)"
		} else {
			s += " (updated)"
		}
		return s
	case Disagrees:
		return fmt.Sprintf("%sserves %s %s, unlike the other sources (%s)", prefix, f.Key, f.New, f.Old)
	case TooLarge:
		if f.LimitFrom == "size" {
			return fmt.Sprintf("%sserves more than the %d bytes the manifest records as its size", prefix, f.Limit)
		}
		return fmt.Sprintf("%sserves more than %d bytes (--max-size); nothing recorded", prefix, f.Limit)
	case Unreachable:
		var se *fetch.SourceError
		if errors.As(f.Err, &se) {
			return prefix + se.Reason()
		}
		return prefix + f.Err.Error()
	}
	return prefix + "?"
}

// Report is the outcome of a lock run.
type Report struct {
	Edits    []manifest.Edit
	Findings []Finding
	// Locked names the models whose values were checked or written.
	Locked []string
}

// Outcome is what a run's findings come to, worst last; the command line
// turns it into an exit status.
type Outcome int

// Outcomes of a run.
const (
	// OutcomeClean: nothing wrong (values may have been written or updated).
	OutcomeClean Outcome = iota
	// OutcomeIncomplete: values are missing (only reported with Check).
	OutcomeIncomplete
	// OutcomeUnreachable: a source could not be read.
	OutcomeUnreachable
	// OutcomeReference: a source names what cannot be fetched (a registry
	// index: BadReference).
	OutcomeReference
	// OutcomeIntegrity: a recorded value is stale and kept, sources
	// disagree, or a source serves more than its bound.
	OutcomeIntegrity
)

var outcomeNames = [...]string{"clean", "incomplete", "unreachable", "reference", "integrity"}

func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
	return outcomeNames[o]
}

// Outcome summarises the findings: integrity over reference over
// unreachable over incomplete.
func (r *Report) Outcome() Outcome {
	out := OutcomeClean
	for _, f := range r.Findings {
		switch {
		case f.Kind == Disagrees, f.Kind == Changed && f.Kept, f.Kind == TooLarge:
			return OutcomeIntegrity
		case f.Kind == Changed && !f.Kept:
		case f.Kind == Unreachable && integrity(f.Err):
			// A source whose bytes contradict themselves (a registry
			// artifact's layer, two layers claiming one path): as fetch
			// reports it.
			return OutcomeIntegrity
		case f.Kind == Unreachable && BadReference(f.Err):
			out = OutcomeReference
		case f.Kind == Unreachable && out != OutcomeReference:
			out = OutcomeUnreachable
		case f.Kind == Incomplete && out == OutcomeClean:
			out = OutcomeIncomplete
		}
	}
	return out
}

// complete reports whether every value lock records is present.
func complete(m *manifest.Model) bool {
	if !m.Locked() || m.Size < 0 || !pinned(m) {
		return false
	}
	for _, s := range m.Sources {
		if s.Table && (s.SHA256.IsZero() || s.Size < 0) {
			return false
		}
	}
	return true
}

// Prober measures what a source serves (fetch.Fetcher.Probe). It decodes at
// most limit installed bytes: a source that has more fails with an error
// that errors.As finds as a *digest.SizeError with Over set.
type Prober interface {
	Probe(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (fetch.Probe, error)
}

// limit returns the bound of m's probes and where it comes from. A recorded
// size bounds them unless it vouches for nothing (no sha256 beside it: lock
// replaces such a size) or the model is being updated (its size may have
// grown); then MaxSize does, or the recorded size if that is larger.
func (o Options) limit(m *manifest.Model, update bool) (int64, string) {
	if m.Size >= 0 && m.Locked() && !update {
		return m.Size, "size"
	}
	max := o.MaxSize
	if max <= 0 {
		max = DefaultMaxSize
	}
	if m.Size > max {
		return m.Size, "size"
	}
	return max, "max-size"
}

// Run checks models against their sources and returns the edits to make,
// reading o.Jobs models at once; the report lists them in the order given.
func Run(ctx context.Context, p Prober, models []*manifest.Model, o Options) (*Report, error) {
	return runJobs(ctx, models, o.Jobs, func(r *Report, m *manifest.Model) error {
		if !o.Reads(m) {
			if o.Check {
				r.incomplete(m)
			}
			return nil
		}
		edits, findings := len(r.Edits), len(r.Findings)
		if ok, err := r.pin(ctx, o.Resolver, m, o.UpdateAll || o.Update[m.Name]); err != nil || !ok {
			return err
		}
		if err := r.model(ctx, p, m, o); err != nil {
			return err
		}
		r.keepPinIfRead(m, edits, findings)
		return nil
	})
}

func (r *Report) incomplete(m *manifest.Model) {
	add := func(key string) { r.Findings = append(r.Findings, Finding{Model: m.Name, Kind: Incomplete, Key: key}) }
	if m.SHA256.IsZero() {
		add("sha256")
	}
	if m.Size < 0 {
		add("size")
	}
	r.incompletePins(m)
	for _, s := range m.Sources {
		if s.Table && (s.SHA256.IsZero() || s.Size < 0) {
			r.Findings = append(r.Findings, Finding{Model: m.Name, Source: redact.URL(s.Parsed), Kind: Incomplete, Key: "sha256/size of the served bytes"})
		}
	}
}

type probed struct {
	src   *manifest.Source
	table int // index among table sources, -1 for a urls item
	p     fetch.Probe
}

// model checks m: every source probed, then what they served compared with
// each other and with the record, and recorded.
func (r *Report) model(ctx context.Context, pr Prober, m *manifest.Model, o Options) error {
	update := o.UpdateAll || o.Update[m.Name]
	got, tooLarge, err := r.probeAll(ctx, pr, m, o, update)
	if err != nil {
		return err
	}
	if len(got) == 0 || tooLarge && !o.FirstSource {
		// Every source is unreachable, or one serves more than the others
		// can: reported already, nothing is recorded.
		return nil
	}
	want, ok := r.agree(m, got, update)
	if !ok {
		return nil // nothing is recorded for a model whose sources disagree
	}
	r.record(m, got, want, writing{update: update, check: o.Check})
	return nil
}

// probeAll probes m's sources in order (only the first working one with
// FirstSource), each bounded by the limit o gives; the failures become
// findings.
func (r *Report) probeAll(ctx context.Context, pr Prober, m *manifest.Model, o Options, update bool) (got []probed, over bool, err error) {
	table := -1
	limit, from := o.limit(m, update)
	for _, src := range m.Sources {
		idx := -1
		if src.Table {
			table++
			idx = table
		}
		p, err := pr.Probe(ctx, m, src, limit)
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			if tooLarge(err) {
				r.Findings = append(r.Findings, Finding{Model: m.Name, Source: p.Source, Kind: TooLarge, Limit: limit, LimitFrom: from})
				over = true
				continue
			}
			r.Findings = append(r.Findings, Finding{Model: m.Name, Source: p.Source, Kind: Unreachable, Err: err})
			continue
		}
		got = append(got, probed{src: src, table: idx, p: p})
		if o.FirstSource {
			break
		}
	}
	return got, over, nil
}

// agree returns the installed digest every source served, which, unless
// updating, must also be the recorded one; otherwise it reports the
// disagreement (or the change upstream) and returns false.
func (r *Report) agree(m *manifest.Model, got []probed, update bool) (digest.Digest, bool) {
	want := m.SHA256
	if want.IsZero() || update {
		want = majority(got)
	}
	disagree := false
	for _, g := range got {
		if g.p.Installed != want {
			disagree = true
		}
	}
	if !disagree {
		return want, true
	}
	if !m.SHA256.IsZero() && !update && allSame(got) {
		// Every source moved on together: the model changed upstream.
		r.Findings = append(r.Findings, Finding{Model: m.Name, Source: got[0].p.Source, Kind: Changed,
			Key: "sha256", Old: m.SHA256.String(), New: got[0].p.Installed.String(), Kept: true})
		return want, false
	}
	for _, g := range got {
		if g.p.Installed != want {
			r.Findings = append(r.Findings, Finding{Model: m.Name, Source: g.p.Source, Kind: Disagrees,
				Key: "sha256", Old: want.String(), New: g.p.Installed.String()})
		}
	}
	return want, false
}

// record sets m's values, and each table source's as-served ones.
func (r *Report) record(m *manifest.Model, got []probed, want digest.Digest, w writing) {
	size := got[0].p.InstalledSize
	r.Locked = append(r.Locked, m.Name)
	first := got[0].p.Source
	r.set(m, recorded{source: -1, key: "sha256", old: m.SHA256.String(), new: want.String(), from: first}, w)
	// A size recorded without a digest vouches for nothing: it follows the
	// digest being recorded now.
	r.set(m, recorded{source: -1, key: "size", old: sizeString(m.Size), new: fmt.Sprint(size), from: first},
		writing{update: w.update || m.SHA256.IsZero(), check: w.check})
	for _, g := range got {
		if g.table < 0 {
			continue
		}
		r.set(m, recorded{source: g.table, key: "sha256", old: g.src.SHA256.String(), new: g.p.Served.String(), from: g.p.Source}, w)
		r.set(m, recorded{source: g.table, key: "size", old: sizeString(g.src.Size), new: fmt.Sprint(g.p.ServedSize), from: g.p.Source}, w)
	}
}

func sizeString(n int64) string {
	if n < 0 {
		return ""
	}
	return fmt.Sprint(n)
}

// recorded is one value lock may record: key ("sha256" or "size") of the model
// (source -1) or of its table source number source; old is what the
// manifest records ("" for nothing), new what from (a redacted URL) served.
type recorded struct {
	source        int
	key, old, new string
	from          string
}

// writing says what set may do: update replaces a recorded value that
// changed; check changes nothing.
type writing struct{ update, check bool }

// set records an edit for a missing value, and a finding for a changed one
// (an edit too when updating). Check mode only finds.
func (r *Report) set(m *manifest.Model, v recorded, w writing) {
	if v.old == v.new {
		return
	}
	if v.old != "" {
		kept := !w.update || w.check
		r.Findings = append(r.Findings, Finding{Model: m.Name, Source: v.from, Kind: Changed, Key: v.key, Old: v.old, New: v.new, Kept: kept})
		if kept {
			return
		}
	}
	if w.check {
		return
	}
	var val any = v.new
	if v.key == "size" {
		var n int64
		fmt.Sscan(v.new, &n)
		val = n
	}
	r.Edits = append(r.Edits, manifest.Edit{Model: m.Name, Source: v.source, Key: v.key, Value: val})
}

// majority returns the installed digest most sources served (the first
// source's on a tie).
func majority(got []probed) digest.Digest {
	count := map[digest.Digest]int{}
	best := got[0].p.Installed
	for _, g := range got {
		count[g.p.Installed]++
		if count[g.p.Installed] > count[best] {
			best = g.p.Installed
		}
	}
	return best
}

func allSame(got []probed) bool {
	for _, g := range got[1:] {
		if g.p.Installed != got[0].p.Installed {
			return false
		}
	}
	return true
}

// integrity reports whether a probe failed on the bytes a source served
// (fetch.KindIntegrity), not on reaching it.
func integrity(err error) bool {
	var se *fetch.SourceError
	return errors.As(err, &se) && se.Kind == fetch.KindIntegrity
}
