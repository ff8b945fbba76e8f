package mirror

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

func TestFirstRegistryAndWithRegistries(t *testing.T) {
	ms, err := ParseList("https://cdn.example/{sha256} oci://r1.example/models oci://r2.example/other")
	require.NoError(t, err)
	first, ok := FirstRegistry(ms)
	require.True(t, ok)
	assert.Equal(t, "r1.example", first.Registry)
	assert.True(t, HasRegistry(ms))
	_, ok = FirstRegistry(ms[:1])
	assert.False(t, ok)
	assert.False(t, HasRegistry(nil))

	var refs []*manifest.Ref
	for _, s := range []string{"oci://r1.example/elsewhere:v1#f.bin", "oci://r3.example/m:v1#f.bin", "oci://r3.example/n:v2#g.bin", "hf://org/repo/f.bin"} {
		r, err := manifest.ParseRef(s)
		require.NoError(t, err, s)
		refs = append(refs, r)
	}
	got := WithRegistries(ms, append(refs, nil))
	require.Len(t, got, 4, "r1 is a mirror already, r3 once, hf:// is no registry")
	assert.Equal(t, "r3.example", got[3].Registry)
	assert.Len(t, ms, 3, "the mirrors are not changed")
}

func TestTriedURLs(t *testing.T) {
	ms, err := ParseList("https://cdn.example/{sha256}?token=s3cret")
	require.NoError(t, err)
	m := &manifest.Model{Name: "a", SHA256: digest.Of([]byte("a"))}
	hex := m.SHA256.String()[len("sha256:"):]
	urls := TriedURLs(ms, false, map[string][]string{"a": {"https://h/a"}}, []*manifest.Model{m})
	require.Len(t, urls["a"], 2)
	assert.NotContains(t, urls["a"][0], "s3cret", "redacted")
	assert.Contains(t, urls["a"][0], hex)
	assert.Equal(t, "https://h/a", urls["a"][1])
	urls = TriedURLs(ms, true, map[string][]string{"a": {"https://h/a"}}, []*manifest.Model{m})
	assert.Len(t, urls["a"], 1, "--mirror-only: the mirrors alone")
	plain := map[string][]string{"a": {"https://h/a"}}
	assert.Equal(t, plain, TriedURLs(nil, true, plain, []*manifest.Model{m}))
}
