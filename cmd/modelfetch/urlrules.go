package main

// The url rules (--url-rules, MODELFETCH_URL_RULES): pkg/rules applies them
// and resolves their credentials; here the file is chosen, the environment
// and the netrc file read (once).

import (
	"errors"

	"github.com/djok/modelfetch/internal/credentials"
	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/rules"
)

// sitePlan is what the url rules make of the selected models, with the
// credentials of the run.
type sitePlan struct {
	*rules.Site
	creds []credentials.HostRule
	netrc string // the netrc file's text, read once per run
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
// rules.Blocked, and the plan comes with it (lock stops only for a model it
// reads).
func (o *netOptions) sitePlan(env env, models []*manifest.Model) (*sitePlan, error) {
	var r *rules.Rules
	if file := o.rulesFile(env); file != "" {
		var err error
		if r, err = rules.Load(file); err != nil {
			return nil, err
		}
	}
	site, err := r.Site(models)
	var blocked rules.Blocked
	if err != nil && !errors.As(err, &blocked) {
		return nil, err
	}
	sp := &sitePlan{Site: site, netrc: readNetrc(env)}
	if sp.creds, err = site.Credentials(rules.Secrets{Getenv: env.Getenv, Netrc: sp.netrc}, o.offline); err != nil {
		return nil, err
	}
	if blocked != nil {
		return sp, blocked
	}
	return sp, nil
}

// maxNetrcSize bounds the netrc read (a FIFO or device is not read at all).
const maxNetrcSize = 1 << 20

// readNetrc is the text of ~/.netrc (or $NETRC); "" when there is none or
// it cannot be read.
func readNetrc(env env) string {
	if path := env.netrcPath(); path != "" {
		if b, err := fsutil.ReadRegularFile(path, maxNetrcSize); err == nil {
			return string(b)
		}
	}
	return ""
}
