package manifest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A password written into a reference is refused, and never repeated.
func TestRefCredentialsAreNotEchoed(t *testing.T) {
	for _, raw := range []string{
		"oci://user:s3cret@ghcr.io/acme/m:v1#p",
		"oci+http://user:s3cret@127.0.0.1:5000/acme/m:v1#p",
		"hf://user:s3cret@org/repo/a.bin",
		"hf://s3cret@org/repo/a.bin",
	} {
		_, err := ParseRef(raw)
		require.Error(t, err, raw)
		assert.NotContains(t, err.Error(), "s3cret")
		assert.Contains(t, err.Error(), "credentials do not belong in a reference")

		_, err = Parse("t.toml", "/", []byte("version = 1\n[models.m]\npath = \"m\"\nurls = [\""+raw+"\"]\n"))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "s3cret")
	}
}
