package main

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/rules"
)

// TestReadmeRulesExample parses the README's rules file and applies it as
// the README says it works.
func TestReadmeRulesExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "```toml\n# /etc/modelfetch/rules.toml\n")
	require.True(t, ok, "README has the rules example")
	text, _, _ := strings.Cut(rest, "```")
	r, err := rules.Parse("rules.toml", []byte(text))
	require.NoError(t, err)

	m := &manifest.Model{Name: "codeformer"}
	for _, s := range []string{
		"https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
		"https://huggingface.co/org/repo/resolve/main/x.onnx",
		"http://dlib.net/files/shape_predictor_68_face_landmarks.dat.bz2",
		"https://example.org/elsewhere.bin",
	} {
		u, err := url.Parse(s)
		require.NoError(t, err)
		m.Sources = append(m.Sources, &manifest.Source{URL: s, Parsed: u})
	}
	p, err := r.Apply(m)
	require.NoError(t, err)
	var got []string
	for _, c := range p.Candidates {
		got = append(got, c.Source.URL)
	}
	assert.Equal(t, []string{
		"https://artifactory.example.com/artifactory/github/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
		"https://artifactory-dr.example.com/artifactory/github/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
		"https://artifactory.example.com/artifactory/api/huggingfaceml/hf/org/repo/resolve/main/x.onnx",
		"https://eu.mirror.example.com/dlib/shape_predictor_68_face_landmarks.dat.bz2",
	}, got)
	assert.Equal(t, []string{"https://old.mirror.example.com/dlib/shape_predictor_68_face_landmarks.dat.bz2", "https://example.org/elsewhere.bin"}, p.Blocked)
	hosts := map[string]string{}
	for _, hc := range r.HostCredentials() {
		hosts[hc.Scheme+"://"+hc.Host] = hc.Credential.Env
	}
	assert.Equal(t, map[string]string{"https://artifactory.example.com": "ARTIFACTORY_TOKEN", "https://artifactory-dr.example.com": "ARTIFACTORY_TOKEN"}, hosts)
}

func TestSitePlanCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := dir + "/" + name
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	rulesFile := write("rules.toml", "[[rewrite]]\nmatch = 'a\\.example/(.*)'\nto = ['https://proxy.example/$1']\nnetrc = 'proxy-login'\n"+
		"[[rewrite]]\nmatch = 'b\\.example/(.*)'\nto = ['https://other.example/$1']\ntoken_env = 'OTHER_TOKEN'\n")
	netrc := write("netrc", "machine proxy-login login alice password s3cret\ndefault login anon password guest\n")
	u, err := url.Parse("https://a.example/x")
	require.NoError(t, err)
	models := []*manifest.Model{{Name: "m", Sources: []*manifest.Source{{URL: u.String(), Parsed: u}}}}
	e := env{Netrc: netrc, Getenv: func(string) string { return "" }}

	o := &netOptions{urlRules: rulesFile}
	site, err := o.sitePlan(e, models)
	require.NoError(t, err, "OTHER_TOKEN is unset, but no URL of the run needs it")
	creds := credentialPolicy(e, site.netrc, site.Hosts())
	creds.Rules = site.creds
	f := creds.Func()
	assert.Equal(t, "Basic YWxpY2U6czNjcmV0", f("https", "proxy.example"), "the netrc machine the rule names")
	assert.Equal(t, "Basic YW5vbjpndWVzdA==", f("https", "a.example"), "the origin gets nothing of the proxy's; the manifest names it, so the netrc default")
	assert.Equal(t, "", f("https", "other.example"), "a rule's host gets no other credential, not even the netrc default")

	u2, _ := url.Parse("https://b.example/y")
	models[0].Sources[0] = &manifest.Source{URL: u2.String(), Parsed: u2}
	_, err = o.sitePlan(e, models)
	assert.EqualError(t, err, rulesFile+":5: rewrite: token_env OTHER_TOKEN: the environment variable is not set")
	e.Getenv = func(k string) string { return map[string]string{"OTHER_TOKEN": "tok"}[k] }
	site, err = o.sitePlan(e, models)
	require.NoError(t, err)
	creds.Rules = site.creds
	assert.Equal(t, "Bearer tok", creds.Func()("https", "other.example"))
}
