package rules

import (
	"errors"
	"fmt"

	"github.com/djok/modelfetch/internal/credentials"
	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Site is what the rules make of the models of one run; without a rules
// file (a nil Rules) every model keeps its sources.
type Site struct {
	Rules *Rules // nil without a rules file
	// Plans are by model name.
	Plans map[string]*Plan
}

// Site applies r to models. The error is a manifest.ErrorList when a
// rewrite makes a URL that cannot be fetched (no Site then), or a Blocked
// when every URL of some model is blocked: the Site comes with it, so that a
// caller that does not read such a model (lock) may go on.
func (r *Rules) Site(models []*manifest.Model) (*Site, error) {
	plans, err := r.Plans(models)
	var blocked Blocked
	if err != nil && !errors.As(err, &blocked) {
		return nil, err
	}
	s := &Site{Rules: r, Plans: map[string]*Plan{}}
	for _, p := range plans {
		s.Plans[p.Model.Name] = p
	}
	return s, err
}

// Models returns models with their effective sources (the candidates), in
// order.
func (s *Site) Models(models []*manifest.Model) []*manifest.Model {
	out := make([]*manifest.Model, len(models))
	for i, m := range models {
		out[i] = s.Plans[m.Name].Effective()
	}
	return out
}

// Hosts are the host names the models' own source URLs name (not what the
// rules make of them): the netrc default entry may go to them.
func (s *Site) Hosts() []string {
	var out []string
	for _, p := range s.Plans {
		out = append(out, p.Hosts()...)
	}
	return out
}

// URLs returns, by model, the URLs tried in order (redacted); the blocked
// ones are left out.
func (s *Site) URLs() map[string][]string {
	out := map[string][]string{}
	for name, p := range s.Plans {
		out[name] = []string{}
		for _, c := range p.Candidates {
			out[name] = append(out[name], redact.URL(c.Source.Parsed))
		}
	}
	return out
}

// Secrets are where the rules' credential references are looked up. The
// caller reads them: this package reads no environment.
type Secrets struct {
	// Getenv returns an environment variable's value ("" when unset); nil
	// reads none.
	Getenv func(name string) string
	// Netrc is the text of the netrc file; "" for none.
	Netrc string
}

// Credentials resolves the credential of every host a rule gives one to. A
// reference that names nothing (a variable unset, no such netrc machine
// with a login) fails with a *manifest.Error naming the rule's line, with a
// hint, when a candidate of s needs it and the run may reach the network
// (not offline); otherwise that host gets an empty credential: no header,
// and still no other credential.
func (s *Site) Credentials(sec Secrets, offline bool) ([]credentials.HostRule, error) {
	used := map[*Rule]bool{}
	for _, p := range s.Plans {
		for _, c := range p.Candidates {
			used[c.Rule] = true
		}
	}
	var out []credentials.HostRule
	for _, hc := range s.Rules.HostCredentials() {
		value, ok := "", false
		switch c := hc.Credential; {
		case c.Env != "" && sec.Getenv != nil:
			value = sec.Getenv(c.Env)
			ok = value != ""
			value = credentials.Bearer(value)
		case c.Netrc != "":
			value, ok = credentials.NetrcMachine(sec.Netrc, c.Netrc)
		}
		bad := ok && !headerSafe(value)
		if !ok || bad {
			if used[hc.Rule] && !offline {
				return nil, s.Rules.unresolved(hc, bad)
			}
			value = ""
		}
		out = append(out, credentials.HostRule{Scheme: hc.Scheme, Host: hc.Host, Authorization: value})
	}
	return out, nil
}

// unresolved is the error of a credential reference that names nothing,
// or (bad) a token no HTTP header can carry (a netrc login and password go
// base64-encoded, so only a token can be); it never shows the value.
func (r *Rules) unresolved(hc HostCredential, bad bool) error {
	e := &manifest.Error{File: r.File, Line: hc.Rule.Line, Key: "rewrite"}
	if bad {
		e.Msg = "token_env " + hc.Credential.Env + ": the value holds a control character (such as CR or LF), which no HTTP header can carry"
		e.Hint = "set " + hc.Credential.Env + " to the token alone, on one line"
		return e
	}
	if hc.Credential.Env != "" {
		e.Msg = fmt.Sprintf("token_env %s: the environment variable is not set", hc.Credential.Env)
		e.Hint = fmt.Sprintf("export %s with the token for %s", hc.Credential.Env, hc.Host)
	} else {
		e.Msg = fmt.Sprintf("netrc %s: no such machine with a login in the netrc file", hc.Credential.Netrc)
		e.Hint = "add `machine " + hc.Credential.Netrc + " login USER password SECRET` to ~/.netrc (or $NETRC)"
	}
	return e
}

// headerSafe reports whether v can be an HTTP header value: no control
// character but the tab.
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
