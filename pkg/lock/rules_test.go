package lock

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/rules"
)

// Under the url rules a source of the manifest is read from its candidates
// in order; the manifest's own source gets what the first that works serves.
func TestUnderRules(t *testing.T) {
	r, err := rules.Parse("rules.toml", []byte(`blocked_message = "ask #infra"
block = ["dead.example"]
[[rewrite]]
match = 'one/(.*)'
to = ["https://p1/$1", "https://p2/$1"]
[[rewrite]]
match = 'gone/(.*)'
to = ["https://dead.example/$1"]
`))
	require.NoError(t, err)
	m := parse(t, "version = 1\n[models.a]\npath = \"a\"\nurls = [\"https://one/a\", \"https://gone/a\", \"https://two/a\"]\n")
	site, err := r.Site(m.Models)
	require.NoError(t, err)
	a := m.Models[0]
	ctx := context.Background()

	p := UnderRules(fake{"https://p2/a": good, "https://two/a": good}, site)
	got, err := p.Probe(ctx, a, a.Sources[0], 100)
	require.NoError(t, err)
	assert.Equal(t, "https://p2/a", got.Source, "the second candidate, after the first failed")

	_, err = p.Probe(ctx, a, a.Sources[1], 100)
	assert.EqualError(t, err, "https://gone/a: blocked by the url rules in rules.toml: ask #infra")

	_, err = UnderRules(fake{}, site).Probe(ctx, a, a.Sources[0], 100)
	assert.EqualError(t, err, "https://one/a: https://p1/a: http 404 not found; https://p2/a: http 404 not found", "every candidate's reason")

	_, err = UnderRules(fake{"https://p1/a": other, "https://p2/a": good}, site).Probe(ctx, a, a.Sources[0], 4)
	assert.True(t, tooLarge(err), "a candidate over the bound is reported as such, whatever the next serves")

	got, err = p.Probe(ctx, a, a.Sources[2], 100)
	require.NoError(t, err)
	assert.Equal(t, "https://two/a", got.Source, "a source no rule matches is read as it is")

	plain := fake{}
	assert.Equal(t, Prober(plain), UnderRules(plain, &rules.Site{}), "no rules file: the prober itself")
}
