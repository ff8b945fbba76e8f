package rules

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/pkg/manifest"
)

// rawRules is the file as decoded, before validation.
type rawRules struct {
	BlockedMessage string       `toml:"blocked_message"`
	Allow          []string     `toml:"allow"`
	Block          []string     `toml:"block"`
	Rewrite        []rawRewrite `toml:"rewrite"`
}

type rawRewrite struct {
	Match    string   `toml:"match"`
	To       []string `toml:"to"`
	TokenEnv string   `toml:"token_env"`
	Netrc    string   `toml:"netrc"`
}

// Load reads and validates the rules file. The error is a
// manifest.ErrorList: each problem names the file and line.
func Load(file string) (*Rules, error) {
	b, err := fsutil.ReadRegularFile(file, MaxFileSize)
	if errors.Is(err, fsutil.ErrTooLarge) {
		return nil, tooLarge(file)
	}
	if err != nil {
		return nil, manifest.ErrorList{{File: file, Msg: pathError(err)}}
	}
	return Parse(file, b)
}

func tooLarge(file string) error {
	return manifest.ErrorList{{File: file, Msg: fmt.Sprintf("rules file is larger than %d bytes (1 MiB); refusing to read it", MaxFileSize)}}
}

func pathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// Parse parses and validates rules text; file names it in errors.
func Parse(file string, src []byte) (*Rules, error) {
	if len(src) > MaxFileSize {
		return nil, tooLarge(file)
	}
	if e := manifest.NestingError(file, src); e != nil {
		return nil, manifest.ErrorList{e}
	}
	var raw rawRules
	if _, err := toml.Decode(string(src), &raw); err != nil {
		return nil, manifest.ErrorList{manifest.DecodeError(file, err)}
	}
	l, err := readLayout(src)
	if err != nil {
		var me *manifest.Error
		if errors.As(err, &me) {
			me.File = file
			return nil, manifest.ErrorList{me}
		}
		return nil, manifest.ErrorList{{File: file, Msg: "toml: " + manifest.Tidy(err.Error())}}
	}
	// Unknown keys are ignored by the decoder: the values are checked too.
	v := &validator{file: file, l: l, errs: checkKeys(file, l.keys)}
	r := v.rules(&raw)
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	return r, nil
}

// validator turns the decoded file into Rules, collecting every problem.
type validator struct {
	file string
	l    *layout
	errs manifest.ErrorList
}

func (v *validator) errf(key, hint, format string, args ...any) {
	v.errs = append(v.errs, &manifest.Error{File: v.file, Line: v.l.line(key), Key: key,
		Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (v *validator) rules(raw *rawRules) *Rules {
	r := &Rules{File: v.file, BlockedMessage: strings.TrimSpace(raw.BlockedMessage)}
	if strings.ContainsAny(r.BlockedMessage, "\r\n") {
		v.errf("blocked_message", "", "must be one line")
	}
	r.Allow = v.patterns("allow", raw.Allow)
	r.Block = v.patterns("block", raw.Block)
	for i := range raw.Rewrite {
		if rule := v.rewrite(fmt.Sprintf("rewrite.%d", i), &raw.Rewrite[i]); rule != nil {
			r.Rewrite = append(r.Rewrite, rule)
		}
	}
	v.credentialConflicts(r.Rewrite)
	return r
}

// hostPattern is what a host pattern may hold: a host name or address,
// optionally behind "*.", or "*" alone.
var hostPattern = regexp.MustCompile(`^(\*|(\*\.)?[a-z0-9_]([a-z0-9_.:-]*[a-z0-9_])?)$`)

func (v *validator) patterns(key string, list []string) []HostPattern {
	var out []HostPattern
	for i, p := range list {
		k := fmt.Sprintf("%s.%d", key, i)
		p = strings.ToLower(strings.TrimSpace(p))
		switch {
		case strings.Contains(p, "/"):
			v.errf(k, `write the host alone, such as "example.com" or "*.example.com"`, "%q is not a host pattern", list[i])
		case strings.Count(p, ":") == 1:
			v.errf(k, "", "host pattern %q has a port; patterns match host names, on any port", list[i])
		case !hostPattern.MatchString(p):
			v.errf(k, `want a host name, "*.example.com" or "*"`, "%q is not a host pattern", list[i])
		default:
			out = append(out, HostPattern{Pattern: p, Line: v.l.line(k)})
		}
	}
	return out
}

// envName is an environment variable name as sites write them. Upper case
// only: a token pasted in its place (mixed case, dots, dashes) is refused.
var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)

// netrcMachine is a netrc machine name: a host name.
var netrcMachine = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$`)

func (v *validator) rewrite(key string, raw *rawRewrite) *Rule {
	n := len(v.errs)
	rule := &Rule{Expr: raw.Match, Line: v.l.line(key)}
	switch re, err := regexp.Compile(`^(?:` + raw.Match + `)$`); {
	case raw.Match == "":
		v.errf(key, `match is a regular expression on the URL without its scheme, such as 'github\.com/(.*)'`, "no match expression")
	case err != nil:
		v.errf(key+".match", "", "bad regular expression %q: %s", raw.Match, regexpError(err))
	default:
		rule.Match = re
	}
	if len(raw.To) == 0 {
		v.errf(key, "to lists the URLs to try instead, in order", "no to URLs")
	}
	for i, t := range raw.To {
		k := fmt.Sprintf("%s.to.%d", key, i)
		tpl, err := parseTemplate(t, rule.Match)
		if err != nil {
			hint := ""
			var ue *userInfoError
			if errors.As(err, &ue) {
				hint = "name the credential with token_env (an environment variable) or netrc (a ~/.netrc machine)"
			}
			v.errf(k, hint, "%s", err)
			continue
		}
		tpl.Line = v.l.line(k)
		rule.To = append(rule.To, tpl)
	}
	rule.Credential = v.credential(key, raw, rule.To)
	if len(v.errs) > n {
		return nil
	}
	return rule
}

// regexpError is the syntax error without the expression we wrapped it in.
func regexpError(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return se.Code.String()
	}
	return manifest.Tidy(strings.TrimPrefix(err.Error(), "error parsing regexp: "))
}

func (v *validator) credential(key string, raw *rawRewrite, to []Template) Credential {
	c := Credential{Env: raw.TokenEnv, Netrc: raw.Netrc}
	switch {
	case c.IsZero():
		return c
	case c.Env != "" && c.Netrc != "":
		v.errf(key, "", "token_env and netrc both given; name one credential")
	case c.Env != "" && !envName.MatchString(c.Env):
		v.errf(key+".token_env", "token_env names the environment variable that holds the token, such as PROXY_TOKEN; never the token itself",
			"%q is not an environment variable name (upper case letters, digits and _)", redactLike(c.Env))
	case c.Netrc != "" && !netrcMachine.MatchString(c.Netrc):
		v.errf(key+".netrc", "netrc names a machine of ~/.netrc, such as artifactory.example.com; never a password",
			"%q is not a netrc machine name", redactLike(c.Netrc))
	}
	for i, t := range to {
		if t.Host == nil {
			v.errf(fmt.Sprintf("%s.to.%d", key, i), "write the host of each to URL in full",
				"a rule with a credential needs an http or https URL whose host does not come from the match")
		}
	}
	return c
}

// redactLike shows a value that was refused as a name without echoing what
// may be a secret: its first four characters.
func redactLike(s string) string {
	if len(s) <= 8 {
		return s
	}
	return s[:4] + "…"
}

// credentialConflicts refuses two rules that give one host two credentials.
func (v *validator) credentialConflicts(rules []*Rule) {
	owner := map[string]*Rule{}
	for _, r := range rules {
		if r.Credential.IsZero() {
			continue
		}
		for _, t := range r.To {
			key := t.Host.String()
			o, ok := owner[key]
			switch {
			case !ok:
				owner[key] = r
			case o.Credential != r.Credential:
				v.errs = append(v.errs, &manifest.Error{File: v.file, Line: t.Line,
					Msg: fmt.Sprintf("%s gets %s here and %s from the rule at line %d; one host, one credential", key, r.Credential, o.Credential, o.Line)})
			}
		}
	}
}
