package rules

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/manifest"
)

const twoProxies = "[[rewrite]]\nmatch = 'a\\.example/(.*)'\nto = ['https://proxy.example/$1']\nnetrc = 'proxy-login'\n" +
	"[[rewrite]]\nmatch = 'b\\.example/(.*)'\nto = ['https://other.example/$1']\ntoken_env = 'OTHER_TOKEN'\n"

// A credential is resolved for every host a rule names; a reference that
// names nothing fails only when a candidate of the run needs it, online.
func TestSiteCredentials(t *testing.T) {
	r, err := Parse("r.toml", []byte(twoProxies))
	require.NoError(t, err)
	sec := Secrets{Netrc: "machine proxy-login login alice password s3cret\n", Getenv: func(string) string { return "" }}

	site, err := r.Site([]*manifest.Model{model(t, "https://a.example/x")})
	require.NoError(t, err)
	creds, err := site.Credentials(sec, false)
	require.NoError(t, err, "OTHER_TOKEN is unset, but no URL of the run needs it")
	got := map[string]string{}
	for _, c := range creds {
		got[c.Scheme+"://"+c.Host] = c.Authorization
	}
	assert.Equal(t, map[string]string{"https://proxy.example": "Basic YWxpY2U6czNjcmV0", "https://other.example": ""}, got)
	assert.Equal(t, []string{"a.example"}, site.Hosts(), "the manifest's host, not the proxy's")

	site, err = r.Site([]*manifest.Model{model(t, "https://b.example/y")})
	require.NoError(t, err)
	_, err = site.Credentials(sec, false)
	var me *manifest.Error
	require.ErrorAs(t, err, &me)
	assert.Equal(t, "r.toml:5: rewrite: token_env OTHER_TOKEN: the environment variable is not set", me.Error())
	assert.Equal(t, "export OTHER_TOKEN with the token for other.example", me.Hint)
	_, err = site.Credentials(sec, true)
	assert.NoError(t, err, "offline, no credential is needed")

	sec.Getenv = func(k string) string { return map[string]string{"OTHER_TOKEN": "tok"}[k] }
	creds, err = site.Credentials(sec, false)
	require.NoError(t, err)
	assert.Contains(t, creds[1].Authorization, "Bearer tok")
}

// Without a rules file the site keeps every source, and needs no credential.
func TestSiteWithoutRules(t *testing.T) {
	var r *Rules
	m := model(t, "https://a.example/x", "file:///srv/x")
	site, err := r.Site([]*manifest.Model{m})
	require.NoError(t, err)
	assert.Equal(t, m.Sources, site.Models([]*manifest.Model{m})[0].Sources)
	assert.Equal(t, map[string][]string{"m": {"https://a.example/x", "file:///srv/x"}}, site.URLs())
	creds, err := site.Credentials(Secrets{}, false)
	assert.NoError(t, err)
	assert.Empty(t, creds)
}

// A token that no HTTP header can carry (CR, LF, another control
// character) is a bad reference, final at once and named by its variable,
// never shown; before, every request was retried on net/http's "invalid
// header field value".
func TestSiteCredentialsRefuseControlCharacters(t *testing.T) {
	r, err := Parse("r.toml", []byte(twoProxies))
	require.NoError(t, err)
	site, err := r.Site([]*manifest.Model{model(t, "https://b.example/y")})
	require.NoError(t, err)
	for _, tok := range []string{"tok\r\nX-Evil: 1", "tok\n", "t\x00k", "t\x7fk"} {
		sec := Secrets{Getenv: func(string) string { return tok }}
		_, err = site.Credentials(sec, false)
		var me *manifest.Error
		require.ErrorAs(t, err, &me, "%q", tok)
		assert.Equal(t, "r.toml:5: rewrite: token_env OTHER_TOKEN: the value holds a control character (such as CR or LF), which no HTTP header can carry", me.Error())
		assert.NotContains(t, me.Error()+me.Hint, tok)
		assert.NotContains(t, me.Error()+me.Hint, "Evil")
		assert.Equal(t, "set OTHER_TOKEN to the token alone, on one line", me.Hint)
	}
	_, err = site.Credentials(Secrets{Getenv: func(string) string { return "to\tk" }}, false)
	assert.NoError(t, err, "a tab is allowed in a header value")
}
