package lock

import (
	"context"
	"errors"
	"strings"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/rules"
)

// UnderRules is p under the url rules of site: a source of the manifest is
// read from its candidates in order, and what the first that works serves
// is recorded on the manifest's own source (lock edits only sha256 and
// size: the manifest keeps its canonical URLs). Without a rules file it is
// p itself.
func UnderRules(p Prober, site *rules.Site) Prober {
	if site == nil || site.Rules == nil {
		return p
	}
	return ruleProber{p, site}
}

type ruleProber struct {
	Prober
	site *rules.Site
}

// Probe implements Prober. The rules are applied again to m as it is now:
// Run has pinned its hub sources, and the rules' match sees a pinned
// reference at its commit (resolve/COMMIT/PATH), so what is hashed is what
// the pin names, as fetch will read it.
func (rp ruleProber) Probe(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (fetch.Probe, error) {
	if rp.site.Plans[m.Name] == nil {
		return rp.Prober.Probe(ctx, m, src, limit)
	}
	name := redact.URL(src.Parsed)
	p, err := rp.site.Rules.Apply(m)
	if err != nil {
		return fetch.Probe{Source: name}, &fetch.SourceError{Source: name, Kind: fetch.KindNetwork, Err: err}
	}
	cands := p.For(src)
	if len(cands) == 0 {
		r := rp.site.Rules
		return fetch.Probe{Source: name}, &fetch.SourceError{Source: name, Kind: fetch.KindNetwork,
			Err: (&rules.BlockedError{File: r.File, Message: r.BlockedMessage}).Reason()}
	}
	var reasons []string
	for _, c := range cands {
		pr, err := rp.Prober.Probe(ctx, m, c.Source, limit)
		if err == nil || ctx.Err() != nil || len(cands) == 1 || tooLarge(err) {
			return pr, err
		}
		reasons = append(reasons, err.Error())
	}
	return fetch.Probe{Source: name}, &fetch.SourceError{Source: name, Kind: fetch.KindNetwork, Err: errors.New(strings.Join(reasons, "; "))}
}

// tooLarge reports a source that serves more than the probe's bound: lock
// reports it as such, whatever the other candidates serve.
func tooLarge(err error) bool {
	var se *digest.SizeError
	return errors.As(err, &se) && se.Over
}
