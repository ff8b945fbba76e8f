// Package rules reads a site's URL rules and applies them to the sources of
// a manifest: rewrite rules that send a URL to one or more other URLs (an
// artifact proxy, a mirror), allow and block rules on hosts, and per-rule
// credentials given by reference.
//
// The rules file is TOML:
//
//	blocked_message = "downloads go through artifactory.example.com"
//	allow = ["artifactory.example.com"]
//	block = ["*.internal.example.com"]
//
//	[[rewrite]]
//	match = 'github\.com/(.*)'
//	to = ["https://artifactory.example.com/artifactory/github/$1"]
//	token_env = "ARTIFACTORY_TOKEN"
//
// Applying them:
//
//   - Only http and https URLs are subject to the rules; file: URLs are
//     local and pass unchanged.
//   - rewrite: match is a regular expression (RE2) that must match the
//     whole URL without its scheme ("github.com/org/x.pth?dl=1"); the first
//     rule in file order that matches wins, and its to URLs replace the URL,
//     tried in order. $1, ${name} and $0 (the whole URL without its
//     scheme) are replaced by what the groups matched; $$ is a dollar sign.
//     A URL no rule matches is kept.
//   - allow and block: patterns on the host name of each URL after
//     rewriting ("example.com", "*.example.com" for any subdomain, "*" for
//     every host). A host that a block pattern matches is never tried, even
//     when an allow pattern matches it too (block wins). When any allow
//     pattern is given, a host that matches none is not tried either.
//   - A model whose every URL is blocked fails with blocked_message.
//   - token_env and netrc name a credential, never hold one: the
//     environment variable whose value goes as a bearer token, or the netrc
//     machine whose login and password go as basic auth. It goes to the
//     hosts of the rule's to URLs (which must not come from groups), over
//     their scheme, and to no other host; those hosts get no other
//     credential.
//
// The package reads no environment: the caller resolves the references.
package rules

import (
	"net/url"
	"regexp"
)

// MaxFileSize bounds the rules file (1 MiB, as the manifest).
const MaxFileSize = 1 << 20

// Rules is a parsed and validated rules file. A nil *Rules applies no rule.
type Rules struct {
	// File is the rules file's path as given, for messages.
	File string
	// BlockedMessage is said when every source of a model is blocked.
	BlockedMessage string
	Allow, Block   []HostPattern
	Rewrite        []*Rule
}

// HostPattern matches host names: an exact name, "*.suffix" for any name
// below suffix, or "*" for all.
type HostPattern struct {
	Pattern string // lower case
	Line    int
}

// Rule is one rewrite rule.
type Rule struct {
	Match *regexp.Regexp // anchored at both ends
	// Expr is the expression as written.
	Expr string
	To   []Template
	// Credential is what the hosts of To receive; zero for none.
	Credential Credential
	// Line is where the rule's table starts.
	Line int
}

// Template is one replacement URL.
type Template struct {
	Text string
	Line int
	// Host holds the scheme and host the template always names (for the
	// rule's credential), e.g. https://proxy.example.com; nil when the host
	// comes from a group, or the scheme is file.
	Host *url.URL
}

// Credential names where a rule's credential comes from; at most one field
// is set.
type Credential struct {
	// Env is the name of an environment variable whose value is sent as
	// "Authorization: Bearer VALUE".
	Env string
	// Netrc is a netrc machine name whose login and password are sent as
	// basic auth.
	Netrc string
}

// IsZero reports whether no credential is named.
func (c Credential) IsZero() bool { return c.Env == "" && c.Netrc == "" }

func (c Credential) String() string {
	switch {
	case c.Env != "":
		return "token_env " + c.Env
	case c.Netrc != "":
		return "netrc machine " + c.Netrc
	}
	return "none"
}

// HostCredential is the credential a rule gives to one scheme and host.
type HostCredential struct {
	Scheme, Host string // lower case; Host without port
	Credential   Credential
	Rule         *Rule
}

// HostCredentials lists, for every rule with a credential, each host its
// URLs name (validation made sure no host gets two).
func (r *Rules) HostCredentials() []HostCredential {
	if r == nil {
		return nil
	}
	var out []HostCredential
	for _, rule := range r.Rewrite {
		if rule.Credential.IsZero() {
			continue
		}
		for _, t := range rule.To {
			out = append(out, HostCredential{Scheme: t.Host.Scheme, Host: t.Host.Host, Credential: rule.Credential, Rule: rule})
		}
	}
	return out
}
