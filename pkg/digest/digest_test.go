package digest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{name: "valid", in: emptySHA, ok: true},
		{name: "upper case", in: strings.ToUpper(emptySHA)},
		{name: "short", in: emptySHA[:63]},
		{name: "long", in: emptySHA + "0"},
		{name: "non hex", in: "g" + emptySHA[1:]},
		{name: "empty", in: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(tc.in)
			if !tc.ok {
				require.Error(t, err)
				assert.True(t, d.IsZero())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.in, d.String())
			assert.Equal(t, tc.in[:12], d.Short())
		})
	}
}

func TestVerifierMatchesOf(t *testing.T) {
	v := NewVerifier()
	_, _ = v.Write([]byte("hello "))
	_, _ = v.Write([]byte("world"))
	assert.Equal(t, Of([]byte("hello world")), v.Digest())
	assert.Equal(t, int64(11), v.Size())
	v.Reset()
	assert.Equal(t, emptySHA, v.Digest().String())
	assert.Equal(t, int64(0), v.Size())
}

func TestTextRoundTrip(t *testing.T) {
	var d Digest
	require.NoError(t, d.UnmarshalText([]byte(emptySHA)))
	b, err := d.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, emptySHA, string(b))
	require.Error(t, d.UnmarshalText([]byte("nope")))
	assert.True(t, Digest{}.IsZero())
	assert.Equal(t, "", Digest{}.String())
}
