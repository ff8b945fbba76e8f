package manifest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A selection that contradicts itself or names what the manifest lacks is
// the request's error (a SelectionError); the models come in manifest order.
func TestApplySelection(t *testing.T) {
	for _, tc := range []struct {
		sel  Selection
		want string
	}{
		{Selection{Out: "/o", Dirs: []string{"models=/x"}}, `--out and --dir models= both set the root "models": give one`},
		{Selection{Dirs: []string{"u2net"}}, `--dir "u2net": want NAME=PATH`},
		{Selection{Dirs: []string{"=/x"}}, `--dir "=/x": want NAME=PATH`},
		{Selection{Dirs: []string{"other=/x"}}, `--dir other: no dir named "other" in models.toml (have: models, u2net)`},
		{Selection{Only: []string{"nope"}}, `models.toml: no model named "nope" (have: dlib, u2)`},
	} {
		m, err := Parse("models.toml", "/base", []byte(good))
		require.NoError(t, err)
		_, err = m.Apply(tc.sel)
		var se *SelectionError
		require.True(t, errors.As(err, &se), "%v: %v", tc.sel, err)
		assert.EqualError(t, err, tc.want)
	}
	m, err := Parse("models.toml", "/base", []byte(good))
	require.NoError(t, err)
	models, err := m.Apply(Selection{Out: "/o", Dirs: []string{"u2net=/u"}})
	require.NoError(t, err)
	require.Len(t, models, 2)
	root, err := m.Root(models[1])
	require.NoError(t, err)
	assert.Equal(t, "/u", root)
	root, err = m.Root(models[0])
	require.NoError(t, err)
	assert.Equal(t, "/o", root)
}

func TestLockedDigests(t *testing.T) {
	m, err := Parse("models.toml", "/base", []byte(good))
	require.NoError(t, err)
	got := m.LockedDigests()
	require.NotEmpty(t, got, "good locks its models")
	for d, names := range got {
		for _, n := range names {
			mod, _ := m.Select([]string{n})
			assert.Equal(t, d, mod[0].SHA256)
		}
	}
}
