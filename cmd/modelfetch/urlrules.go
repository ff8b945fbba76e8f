package main

// The url rules (--url-rules, MODELFETCH_URL_RULES): what they make of the
// selected models, and the credentials they name, resolved here because
// pkg/ reads no environment.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/djok/modelfetch/internal/credentials"
	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/rules"
)

// sitePlan is what the url rules make of the selected models; without a
// rules file every model keeps its sources.
type sitePlan struct {
	rules *rules.Rules // nil without a rules file
	plans map[string]*rules.Plan
	creds []credentials.HostRule
}

// rulesFile is --url-rules, else MODELFETCH_URL_RULES, else "".
func (o *netOptions) rulesFile(env env) string {
	if o.urlRules != "" {
		return o.urlRules
	}
	return env.URLRules
}

// sitePlan loads the rules and applies them to models. A rules file that
// does not validate, or a rewrite to a bad URL, is a usage error (exit 2).
// A model whose every URL is blocked fails the run before anything is
// fetched (exit 1), with the rules file's message: the error wraps a
// rules.Blocked, and the plan comes with it (lock reports such a model
// only if it reads it).
func (o *netOptions) sitePlan(env env, models []*manifest.Model) (*sitePlan, error) {
	sp := &sitePlan{plans: map[string]*rules.Plan{}}
	if file := o.rulesFile(env); file != "" {
		r, err := rules.Load(file)
		if err != nil {
			return nil, err
		}
		sp.rules = r
	}
	plans, err := sp.rules.Plans(models)
	var blocked rules.Blocked
	if err != nil && !errors.As(err, &blocked) {
		return nil, err
	}
	for _, p := range plans {
		sp.plans[p.Model.Name] = p
	}
	if sp.creds, err = sp.resolve(env, o.offline); err != nil {
		return nil, err
	}
	if blocked != nil {
		return sp, &exitError{code: exitNetwork, err: blocked}
	}
	return sp, nil
}

// resolve reads the credential each rule names. A reference that names
// nothing fails the run only when a candidate of this run needs it (and the
// run may go to the network).
func (sp *sitePlan) resolve(env env, offline bool) ([]credentials.HostRule, error) {
	used := map[*rules.Rule]bool{}
	for _, p := range sp.plans {
		for _, c := range p.Candidates {
			used[c.Rule] = true
		}
	}
	netrcText := ""
	if path := env.netrcPath(); path != "" {
		if b, err := fsutil.ReadRegularFile(path, maxNetrcSize); err == nil {
			netrcText = string(b)
		}
	}
	var out []credentials.HostRule
	for _, hc := range sp.rules.HostCredentials() {
		value, ok := "", false
		switch c := hc.Credential; {
		case c.Env != "" && env.Getenv != nil:
			value = env.Getenv(c.Env)
			ok = value != ""
			value = credentials.Bearer(value)
		case c.Netrc != "":
			value, ok = credentials.NetrcMachine(netrcText, c.Netrc)
		}
		if !ok {
			if used[hc.Rule] && !offline {
				return nil, sp.unresolved(hc)
			}
			value = ""
		}
		out = append(out, credentials.HostRule{Scheme: hc.Scheme, Host: hc.Host, Authorization: value})
	}
	return out, nil
}

func (sp *sitePlan) unresolved(hc rules.HostCredential) error {
	e := &manifest.Error{File: sp.rules.File, Line: hc.Rule.Line, Key: "rewrite"}
	if hc.Credential.Env != "" {
		e.Msg = fmt.Sprintf("token_env %s: the environment variable is not set", hc.Credential.Env)
		e.Hint = fmt.Sprintf("export %s with the token for %s", hc.Credential.Env, hc.Host)
	} else {
		e.Msg = fmt.Sprintf("netrc %s: no such machine with a login in the netrc file", hc.Credential.Netrc)
		e.Hint = "add `machine " + hc.Credential.Netrc + " login USER password SECRET` to ~/.netrc (or $NETRC)"
	}
	return e
}

// models returns the models with their effective sources, in order.
func (sp *sitePlan) models(models []*manifest.Model) []*manifest.Model {
	out := make([]*manifest.Model, len(models))
	for i, m := range models {
		out[i] = sp.plans[m.Name].Effective()
	}
	return out
}

// hosts are the host names the effective sources name: the netrc default
// entry may go to them.
func (sp *sitePlan) hosts() []string {
	var out []string
	for _, p := range sp.plans {
		for _, c := range p.Candidates {
			if h := c.Source.Parsed.Hostname(); h != "" {
				out = append(out, h)
			}
		}
	}
	return out
}

// urls returns, by model, the URLs tried in order (redacted), for --json.
func (sp *sitePlan) urls() map[string][]string {
	out := map[string][]string{}
	for name, p := range sp.plans {
		out[name] = []string{}
		for _, c := range p.Candidates {
			out[name] = append(out[name], redact.URL(c.Source.Parsed))
		}
	}
	return out
}

// describe prints, for --dry-run, each model's URLs (urls, by model) in the
// order they are tried (mirrors first, then the manifest's after the rules,
// when there are any).
func (sp *sitePlan) describe(u *ui, models []*manifest.Model, urls map[string][]string) {
	for _, m := range models {
		list := strings.Join(urls[m.Name], ", ")
		if list == "" {
			list = "none"
		}
		line := fmt.Sprintf("%s: urls: %s", m.Name, list)
		if b := sp.plans[m.Name].Blocked; len(b) > 0 {
			line += fmt.Sprintf(" (blocked: %s)", strings.Join(b, ", "))
		}
		u.infof(false, "%s", line)
	}
}

// ruleProber is lock's prober under the url rules: a source of the
// manifest is read from its candidates in order, and what the first that
// works serves is recorded on the manifest's source (lock edits only
// sha256 and size: the manifest keeps its canonical URLs).
type ruleProber struct {
	lock.Prober
	site *sitePlan
}

func (rp ruleProber) Probe(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (fetch.Probe, error) {
	p := rp.site.plans[m.Name]
	if p == nil || rp.site.rules == nil {
		return rp.Prober.Probe(ctx, m, src, limit)
	}
	cands := p.For(src)
	name := redact.URL(src.Parsed)
	if len(cands) == 0 {
		return fetch.Probe{Source: name}, &fetch.SourceError{Source: name, Kind: fetch.KindNetwork,
			Err: (&rules.BlockedError{File: rp.site.rules.File, Message: rp.site.rules.BlockedMessage}).Reason()}
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
