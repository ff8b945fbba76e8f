package rules

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/manifest"
)

// An hf:// source is matched as its file's URL on the Hub, pinned when the
// model pins it; the rewrite is a plain URL, and the host patterns see
// huggingface.co.
func TestApplyHubSources(t *testing.T) {
	const commit = "0123456789abcdef0123456789abcdef01234567"
	m, err := manifest.Parse("m.toml", "/b", []byte(`version = 1
[models.a]
path = "a"
urls = ["hf://org/repo/w.bin", "hf://datasets/org/d@v1/x y.bin", "oci://ghcr.io/a/b:v1#f"]
pins = { "hf://org/repo@main" = "`+commit+`" }
`))
	require.NoError(t, err)
	r, err := Parse("rules.toml", []byte(`
allow = ["proxy.example.com", "ghcr.io"]
[[rewrite]]
match = 'huggingface\.co/(org/.*)'
to = ["https://proxy.example.com/hf/$1"]
`))
	require.NoError(t, err)
	p, err := r.Apply(m.Models[0])
	require.NoError(t, err)
	assert.Equal(t, []string{
		"https://proxy.example.com/hf/org/repo/resolve/" + commit + "/w.bin",
		"oci://ghcr.io/a/b:v1#f",
	}, urlsOf(p))
	assert.Nil(t, p.Candidates[0].Source.Ref, "a rewritten source is a plain URL")
	assert.Equal(t, []string{"hf://datasets/org/d@v1/x%20y.bin"}, p.Blocked, "datasets/ is not org/: not rewritten, and huggingface.co is not allowed")

	open, err := Parse("rules.toml", []byte(`allow = ["huggingface.co"]`))
	require.NoError(t, err)
	p, err = open.Apply(m.Models[0])
	require.NoError(t, err)
	assert.Equal(t, []string{"hf://org/repo/w.bin", "hf://datasets/org/d@v1/x y.bin"}, urlsOf(p))
}

// The Hub's endpoint host is governed as a source's host is: a blocked one
// (or one no allow pattern lets through) is refused, whatever its port.
func TestRefuseHost(t *testing.T) {
	r, err := Parse("rules.toml", []byte("blocked_message = \"ask #infra\"\nblock = [\"huggingface.co\", \"127.0.0.1\"]\n"))
	require.NoError(t, err)
	assert.EqualError(t, r.RefuseHost("huggingface.co"), "blocked by the url rules in rules.toml: ask #infra")
	assert.Error(t, r.RefuseHost("127.0.0.1:8443"))
	assert.NoError(t, r.RefuseHost("hub.internal:443"))
	r, err = Parse("rules.toml", []byte("allow = [\"*.corp\"]\n"))
	require.NoError(t, err)
	assert.Error(t, r.RefuseHost("huggingface.co"))
	assert.NoError(t, r.RefuseHost("hf.proxy.corp"))
	assert.NoError(t, (*Rules)(nil).RefuseHost("huggingface.co"), "no rules: nothing refused")
}
