package rules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Candidate is one URL to try for a source of the manifest.
type Candidate struct {
	// Source is what is fetched: the URL after rewriting, with the
	// compression, sha256, size and line of the manifest's source.
	Source *manifest.Source
	// Canonical is the manifest's source it stands for.
	Canonical *manifest.Source
	// Rule is the rewrite rule that made it; nil when none matched.
	Rule *Rule
}

// Plan is what the rules make of one model.
type Plan struct {
	Model *manifest.Model
	// Candidates in the order they are tried.
	Candidates []Candidate
	// Blocked lists the URLs (redacted) the rules keep from being tried.
	Blocked []string
}

// Effective returns a copy of the model whose sources are the candidates.
func (p *Plan) Effective() *manifest.Model {
	m := *p.Model
	m.Sources = make([]*manifest.Source, len(p.Candidates))
	for i, c := range p.Candidates {
		m.Sources[i] = c.Source
	}
	return &m
}

// Hosts are the host names the model's own source URLs name, before any
// rule: a host that only a rewrite names is not one of them (the netrc
// default entry goes only to hosts the manifest names).
func (p *Plan) Hosts() []string {
	var out []string
	for _, s := range p.Model.Sources {
		if h := s.Parsed.Hostname(); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// For returns the candidates that stand for src, in order.
func (p *Plan) For(src *manifest.Source) []Candidate {
	var out []Candidate
	for _, c := range p.Candidates {
		if c.Canonical == src {
			out = append(out, c)
		}
	}
	return out
}

// Plans applies the rules to each model. The error is a manifest.ErrorList
// when a rewrite makes a URL that cannot be fetched, else a Blocked when
// every URL of some model is blocked.
func (r *Rules) Plans(models []*manifest.Model) ([]*Plan, error) {
	var errs manifest.ErrorList
	var blocked Blocked
	plans := make([]*Plan, len(models))
	for i, m := range models {
		p, err := r.Apply(m)
		if err != nil {
			errs = append(errs, err.(*manifest.Error))
			continue
		}
		if len(p.Candidates) == 0 && len(p.Blocked) > 0 {
			blocked = append(blocked, &BlockedError{Model: m.Name, URLs: p.Blocked, File: r.File, Message: r.BlockedMessage})
		}
		plans[i] = p
	}
	switch {
	case len(errs) > 0:
		return nil, errs
	case len(blocked) > 0:
		return plans, blocked
	}
	return plans, nil
}

// Apply returns the candidates of m's sources; a nil r keeps them as they
// are. The error is a *manifest.Error naming the rule that made a bad URL.
func (r *Rules) Apply(m *manifest.Model) (*Plan, error) {
	p := &Plan{Model: m}
	for _, src := range m.Sources {
		cands, err := r.rewrite(m, src)
		if err != nil {
			return nil, err
		}
		for _, c := range cands {
			if r.blocks(c.Source) {
				p.Blocked = append(p.Blocked, redact.URL(c.Source.Parsed))
				continue
			}
			p.Candidates = append(p.Candidates, c)
		}
	}
	return p, nil
}

// rewrite returns what src becomes under the first rule that matches it.
func (r *Rules) rewrite(m *manifest.Model, src *manifest.Source) ([]Candidate, error) {
	rest, ok := matchText(src)
	if r == nil || !ok {
		return []Candidate{{Source: src, Canonical: src}}, nil
	}
	for _, rule := range r.Rewrite {
		idx := rule.Match.FindStringSubmatchIndex(rest)
		if idx == nil {
			continue
		}
		out := make([]Candidate, 0, len(rule.To))
		for _, t := range rule.To {
			s := string(rule.Match.ExpandString(nil, t.Text, rest, idx))
			u, err := checkURL(s)
			if err != nil {
				return nil, &manifest.Error{File: r.File, Line: t.Line, Key: "rewrite",
					Msg: fmt.Sprintf("model %s: %s rewritten to %s: %s", m.Name, redact.URL(src.Parsed), redact.String(s), err)}
			}
			ns := *src
			ns.URL, ns.Parsed, ns.Ref = s, u, nil
			out = append(out, Candidate{Source: &ns, Canonical: src, Rule: rule})
		}
		return out, nil
	}
	return []Candidate{{Source: src, Canonical: src}}, nil
}

// blocks reports whether the rules keep src from being tried: a block
// pattern matches its host (block wins over allow), or allow patterns exist
// and none matches. A file: URL has no host and is never blocked.
func (r *Rules) blocks(src *manifest.Source) bool {
	if r == nil || src.Parsed.Scheme == "file" {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(hostOf(src)), ".")
	for _, p := range r.Block {
		if p.Matches(host) {
			return true
		}
	}
	if len(r.Allow) == 0 {
		return false
	}
	for _, p := range r.Allow {
		if p.Matches(host) {
			return false
		}
	}
	return true
}

// Matches reports whether host (lower case) matches the pattern.
func (p HostPattern) Matches(host string) bool {
	switch {
	case p.Pattern == "*":
		return true
	case strings.HasPrefix(p.Pattern, "*."):
		return strings.HasSuffix(host, p.Pattern[1:])
	}
	return host == p.Pattern
}

// BlockedError is a model whose every URL the rules block.
type BlockedError struct {
	Model   string
	URLs    []string // redacted
	File    string   // the rules file
	Message string   // its blocked_message, or ""
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("%s: every source is %s", e.Model, e.Reason())
}

// Reason says who blocks the URLs, and the site's message.
func (e *BlockedError) Reason() error {
	s := "blocked by the url rules in " + e.File
	if len(e.URLs) > 0 {
		s += " (" + strings.Join(e.URLs, ", ") + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return errors.New(s)
}

// Blocked is every model whose every URL is blocked; one line each.
type Blocked []*BlockedError

func (b Blocked) Error() string {
	s := make([]string, len(b))
	for i, e := range b {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}
