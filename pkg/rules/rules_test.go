package rules

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

func model(t *testing.T, urls ...string) *manifest.Model {
	m := &manifest.Model{Name: "m", Size: 10}
	for _, s := range urls {
		u, err := url.Parse(s)
		require.NoError(t, err)
		m.Sources = append(m.Sources, &manifest.Source{URL: s, Parsed: u, Size: -1})
	}
	return m
}

func urlsOf(p *Plan) []string {
	var out []string
	for _, c := range p.Candidates {
		out = append(out, c.Source.URL)
	}
	return out
}

func TestApply(t *testing.T) {
	const artifactory = `
blocked_message = "use artifactory"
allow = ["artifactory.example.com", "*.mirror.example.com", "files.example.com"]
block = ["bad.mirror.example.com"]

[[rewrite]]
match = 'github\.com/([^/]+)/([^/]+)/(.*)'
to = ["https://artifactory.example.com/gh/$1/${2}_x/$3", "https://eu.mirror.example.com/$0"]

[[rewrite]]
match = 'github\.com/(.*)'
to = ["https://never.example.com/$1"]

[[rewrite]]
match = '(?P<host>[a-z.]+)/(?P<path>.*)'
to = ["https://bad.mirror.example.com/${host}/${path}", "file:///srv/models/${path}"]
`
	tests := []struct {
		name        string
		rules       string
		urls        []string
		want        []string
		wantBlocked []string
	}{
		{name: "no rules keep the urls", urls: []string{"https://a.example/x", "file:///x"},
			want: []string{"https://a.example/x", "file:///x"}},
		{name: "groups, named groups and $0, first rule wins", rules: artifactory,
			urls: []string{"https://github.com/org/repo/releases/v1/x.pth"},
			want: []string{"https://artifactory.example.com/gh/org/repo_x/releases/v1/x.pth",
				"https://eu.mirror.example.com/github.com/org/repo/releases/v1/x.pth"}},
		{name: "an ordered list per source, sources in order", rules: artifactory,
			urls: []string{"https://github.com/a/b/c", "https://hf.co/m/x"},
			want: []string{"https://artifactory.example.com/gh/a/b_x/c", "https://eu.mirror.example.com/github.com/a/b/c",
				"file:///srv/models/m/x"},
			wantBlocked: []string{"https://bad.mirror.example.com/hf.co/m/x"}},
		{name: "the match is anchored: a longer host does not match", rules: "[[rewrite]]\nmatch = 'github\\.com/(.*)'\nto = ['https://p.example/$1']\n",
			urls: []string{"https://evilgithub.com/x", "http://github.com/y"},
			want: []string{"https://evilgithub.com/x", "https://p.example/y"}},
		{name: "block wins over allow", rules: "allow = ['*']\nblock = ['*.cn.example.com']\n",
			urls: []string{"https://a.cn.example.com/x", "https://cn.example.com/y"},
			want: []string{"https://cn.example.com/y"}, wantBlocked: []string{"https://a.cn.example.com/x"}},
		{name: "with an allow rule, an unlisted host is not tried", rules: "allow = ['files.example.com']\n",
			urls: []string{"https://files.example.com/x", "https://FILES.example.com./y", "https://other.example/z", "file:///local"},
			want: []string{"https://files.example.com/x", "https://FILES.example.com./y", "file:///local"}, wantBlocked: []string{"https://other.example/z"}},
		{name: "blocked urls are redacted", rules: "block = ['a.example']\n",
			urls: []string{"https://u:p@a.example/x?sig=1"}, wantBlocked: []string{"https://xxxxx@a.example/x?REDACTED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *Rules
			if tt.rules != "" {
				var err error
				r, err = Parse("rules.toml", []byte(tt.rules))
				require.NoError(t, err)
			}
			p, err := r.Apply(model(t, tt.urls...))
			require.NoError(t, err)
			assert.Equal(t, tt.want, urlsOf(p))
			assert.Equal(t, tt.wantBlocked, p.Blocked)
		})
	}
}

func TestCandidatesKeepTheirSource(t *testing.T) {
	r, err := Parse("rules.toml", []byte("[[rewrite]]\nmatch = 'a\\.example/(.*)'\nto = ['https://p1.example/$1', 'https://p2.example/$1']\n"))
	require.NoError(t, err)
	m := model(t, "https://a.example/x.gz", "https://b.example/x")
	sum := digest.Of([]byte("x"))
	m.Sources[0].Compression, m.Sources[0].SHA256, m.Sources[0].Size, m.Sources[0].Table = decompress.Gzip, sum, 7, true
	p, err := r.Apply(m)
	require.NoError(t, err)
	require.Len(t, p.Candidates, 3)
	for _, c := range p.For(m.Sources[0]) {
		assert.Equal(t, decompress.Gzip, c.Source.Compression)
		assert.Equal(t, sum, c.Source.SHA256)
		assert.Equal(t, int64(7), c.Source.Size)
		assert.True(t, c.Source.Table)
		assert.Same(t, r.Rewrite[0], c.Rule)
	}
	assert.Len(t, p.For(m.Sources[0]), 2)
	assert.Equal(t, []*manifest.Source{m.Sources[1]}, []*manifest.Source{p.For(m.Sources[1])[0].Source}, "an unmatched source is itself")
	eff := p.Effective()
	assert.Len(t, eff.Sources, 3)
	assert.Len(t, m.Sources, 2, "the manifest's model is not changed")
	assert.Equal(t, "https://a.example/x.gz", m.Sources[0].URL)
}

func TestPlansBlocked(t *testing.T) {
	r, err := Parse("site.toml", []byte("blocked_message = \"ask #infra\"\nblock = ['*.example']\n"))
	require.NoError(t, err)
	ok, bad := model(t, "file:///x"), model(t, "https://a.example/x", "https://b.example/y")
	bad.Name = "codeformer"
	plans, err := r.Plans([]*manifest.Model{ok, bad})
	var b Blocked
	require.True(t, errors.As(err, &b))
	assert.Len(t, plans, 2)
	assert.EqualError(t, err, "codeformer: every source is blocked by the url rules in site.toml (https://a.example/x, https://b.example/y): ask #infra")
}

func TestRewriteToABadURLNamesTheRule(t *testing.T) {
	r, err := Parse("site.toml", []byte("\n[[rewrite]]\nmatch = 'a\\.example/([a-z]*)/?(.*)'\nto = [\n 'https://p.example/$2',\n 'https://$1/$2',\n]\n"))
	require.NoError(t, err)
	_, err = r.Plans([]*manifest.Model{model(t, "https://a.example//x")})
	var el manifest.ErrorList
	require.True(t, errors.As(err, &el))
	assert.Equal(t, 6, el[0].Line)
	assert.Contains(t, el[0].Error(), "site.toml:6: rewrite: model m: https://a.example//x rewritten to https:///x: has no host")
}

// A rule whose match fills a URL's user info (a manifest path holding an
// "@") is refused when applied, naming the rule's line, the user info of
// the rewritten URL not shown.
func TestRewriteToUserInfoIsRefused(t *testing.T) {
	r, err := Parse("site.toml", []byte("[[rewrite]]\nmatch = 'a\\.example/(.*)'\nto = ['https://$1']\n"))
	require.NoError(t, err)
	_, err = r.Plans([]*manifest.Model{model(t, "https://a.example/mirror@p.example/x")})
	var el manifest.ErrorList
	require.True(t, errors.As(err, &el), "%v", err)
	assert.Equal(t, 3, el[0].Line)
	assert.Contains(t, el[0].Error(), "rewritten to https://xxxxx@p.example/x: holds a user name or password (before \"@\"), which a rule never sends")
	assert.NotContains(t, el[0].Error(), "https://mirror@")
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // each problem's Error(), in order
		hint      string
	}{
		{name: "bad regular expression", src: "\n[[rewrite]]\nmatch = 'github\\.com/(.*'\nto = ['https://p/$1']\n",
			want: []string{`r.toml:3: rewrite.0.match: bad regular expression "github\\.com/(.*": missing closing )`}},
		{name: "unknown keys, with a suggestion", src: "blocked_mesage = 'x'\n[[rewrite]]\nmatch = 'a'\nTo = ['https://p/']\n",
			want: []string{`r.toml:1: blocked_mesage: unknown key "blocked_mesage"`, `r.toml:4: rewrite.0.To: unknown key "To"`}, hint: `did you mean "blocked_message" instead of "blocked_mesage"?`},
		{name: "an inline secret is refused", src: "[[rewrite]]\nmatch = 'a'\nto = ['https://p/']\ntoken = 'ghp_abc'\n",
			want: []string{`r.toml:4: rewrite.0.token: "token" would hold a secret in the rules file; secrets are never accepted inline`}},
		{name: "a token in place of a variable name", src: "[[rewrite]]\nmatch = 'a'\nto = ['https://p/']\ntoken_env = 'ghp_1234567890abcdef'\n",
			want: []string{`r.toml:4: rewrite.0.token_env: "ghp_…" is not an environment variable name (upper case letters, digits and _)`}},
		{name: "a group that does not exist", src: "[[rewrite]]\nmatch = 'a/(.*)'\nto = ['https://p/$2', 'https://p/$1x']\n",
			want: []string{`r.toml:3: rewrite.0.to.0: to URL "https://p/$2": $2 names no group of the match expression (it has 1)`,
				`r.toml:3: rewrite.0.to.1: to URL "https://p/$1x": $1x names no group of the match expression (it has 1); write ${1} when the group's number is followed by text`}},
		{name: "bad urls in to", src: "[[rewrite]]\nmatch = 'a/(.*)'\nto = [\n'p.example/$1',\n'ftp://p/$1',\n'file:rel/$1',\n'https:///$1',\n]\n",
			want: []string{`r.toml:4: rewrite.0.to.0: to URL "p.example/$1": has no scheme; write https://, http:// or file:///`,
				`r.toml:5: rewrite.0.to.1: to URL "ftp://p/$1": unsupported scheme "ftp"; use https, http or file`,
				`r.toml:6: rewrite.0.to.2: to URL "file:rel/$1": a file URL needs an absolute path, such as file:///srv/models/x`,
				`r.toml:7: rewrite.0.to.3: to URL "https:///$1": has no host`}},
		{name: "a credential to a host from a group", src: "[[rewrite]]\nmatch = '([^/]*)/(.*)'\nto = ['https://$1.proxy/$2']\ntoken_env = 'T'\n",
			want: []string{`r.toml:3: rewrite.0.to.0: a rule with a credential needs an http or https URL whose host does not come from the match`}},
		{name: "one host, two credentials", src: "[[rewrite]]\nmatch = 'a/(.*)'\nto = ['https://p.example/$1']\ntoken_env = 'T'\n[[rewrite]]\nmatch = 'b/(.*)'\nto = ['https://P.example:8443/$1']\nnetrc = 'p.example'\n",
			want: []string{`r.toml:7: https://p.example gets netrc machine p.example here and token_env T from the rule at line 1; one host, one credential`}},
		{name: "host patterns", src: "allow = ['https://a.example/', 'a.example:443', 'a b', '*.ok.example']\n",
			want: []string{`r.toml:1: allow.0: "https://a.example/" is not a host pattern`, `r.toml:1: allow.1: host pattern "a.example:443" has a port; patterns match host names, on any port`,
				`r.toml:1: allow.2: "a b" is not a host pattern`}},
		{name: "toml syntax", src: "allow = ['a'\n", want: []string{"r.toml:1: toml: expected a comma (',') or array terminator (']'), but got end of file"}},
		{name: "wrong type", src: "allow = 'a'\n", want: []string{"r.toml:1: toml: incompatible types: TOML value has type string; destination has type slice"}},
		{name: "a password in a to URL", src: "[[rewrite]]\nmatch = 'a/(.*)'\nto = [\n'https://bob:hunter2@127.0.0.1:18444/$1',\n'https://bob@p.example/$1',\n'https://$1@p.example/x',\n]\n",
			want: []string{`r.toml:4: rewrite.0.to.0: to URL "https://xxxxx@127.0.0.1:18444/$1" holds a user name or password (before "@"); the rules file never holds a secret`,
				`r.toml:5: rewrite.0.to.1: to URL "https://xxxxx@p.example/$1" holds a user name or password (before "@"); the rules file never holds a secret`,
				`r.toml:6: rewrite.0.to.2: to URL "https://xxxxx@p.example/x" holds a user name or password (before "@"); the rules file never holds a secret`},
			hint: "name the credential with token_env (an environment variable) or netrc (a ~/.netrc machine)"},
		{name: "rule without match or to", src: "[[rewrite]]\n", want: []string{"r.toml:1: rewrite.0: no match expression", "r.toml:1: rewrite.0: no to URLs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("r.toml", []byte(tt.src))
			var el manifest.ErrorList
			require.True(t, errors.As(err, &el), "%v", err)
			var got []string
			for _, e := range el {
				got = append(got, e.Error())
			}
			assert.Equal(t, tt.want, got)
			if tt.hint != "" {
				assert.Equal(t, tt.hint, el[0].Hint)
			}
		})
	}
}

func TestHostCredentials(t *testing.T) {
	r, err := Parse("r.toml", []byte("[[rewrite]]\nmatch = 'a/(.*)'\nto = ['https://P.example:8443/$1', 'http://q.example/$1']\ntoken_env = 'PROXY_TOKEN'\n[[rewrite]]\nmatch = 'b/(.*)'\nto = ['https://free.example/$1']\n"))
	require.NoError(t, err)
	got := r.HostCredentials()
	require.Len(t, got, 2)
	assert.Equal(t, "https p.example PROXY_TOKEN", strings.Join([]string{got[0].Scheme, got[0].Host, got[0].Credential.Env}, " "))
	assert.Equal(t, "http q.example PROXY_TOKEN", strings.Join([]string{got[1].Scheme, got[1].Host, got[1].Credential.Env}, " "))
}

func TestLoadTooLarge(t *testing.T) {
	_, err := Parse("r.toml", make([]byte, MaxFileSize+1))
	assert.ErrorContains(t, err, "r.toml: rules file is larger than")
}

func TestHostileNesting(t *testing.T) {
	strs := "allow = ['[[[[', \"{{{{\", '''[[[[\n''']\n"
	_, err := Parse("r.toml", []byte("# [[[[ in a comment\n"+strs+"block = "+strings.Repeat("[", 40)+strings.Repeat("]", 40)))
	assert.EqualError(t, err, "r.toml:4: arrays and tables nest more than 32 deep")
	_, err = Parse("r.toml", []byte(strs))
	assert.ErrorContains(t, err, "is not a host pattern", "brackets in strings and comments do not count")
}
