package mirror

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
)

var hex64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestParse(t *testing.T) {
	d := digest.MustParse(hex64)
	for _, tc := range []struct {
		spec, url string
		kind      Kind
	}{
		{"oci://registry.example.com/team/models", "https://registry.example.com/v2/team/models/blobs/sha256:" + hex64, OCI},
		{"oci://127.0.0.1:5000/models:v1", "https://127.0.0.1:5000/v2/models/blobs/sha256:" + hex64, OCI},
		{"oci+http://127.0.0.1:5000/models", "http://127.0.0.1:5000/v2/models/blobs/sha256:" + hex64, OCI},
		{"https://cache.example.com/sha256/{sha256}", "https://cache.example.com/sha256/" + hex64, Hashed},
		{"http://10.0.0.1:8080/m/{sha256}.bin", "http://10.0.0.1:8080/m/" + hex64 + ".bin", Hashed},
		{"file:///srv/models/{sha256}", "file:///srv/models/" + hex64, Hashed},
	} {
		m, err := Parse(tc.spec)
		require.NoError(t, err, tc.spec)
		assert.Equal(t, tc.kind, m.Kind, tc.spec)
		assert.Equal(t, tc.url, m.BlobURL(d).String(), tc.spec)
		assert.Equal(t, tc.spec, m.String())
	}
	m, err := Parse("oci://127.0.0.1:5000/team/models:v1")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5000", m.Registry)
	assert.Equal(t, "team/models", m.Repository)
	assert.Equal(t, "v1", m.Tag)
}

func TestParseRefuses(t *testing.T) {
	for spec, want := range map[string]string{
		"registry.example.com/models":                          "want oci://HOST/REPO",
		"ftp://host/{sha256}":                                  "unsupported scheme",
		"oci://registry.example.com":                           "no repository",
		"oci://user:pw@registry.example.com/m":                 "credentials do not belong",
		"oci://registry.example.com/m@sha256:0":                "without a digest",
		"oci://registry.example.com/UPPER":                     "invalid repository",
		"https://host/models":                                  "{sha256} exactly once",
		"https://host/{sha256}/{sha256}":                       "{sha256} exactly once",
		"https://u:p@host/{sha256}":                            "credentials do not belong",
		"https:///{sha256}":                                    "no host",
		"file://otherhost/{sha256}":                            "on this machine",
		"oci://r.example/" + strings.Repeat("a", 256):          "at most 255 bytes",
		"https://h/" + strings.Repeat("a", 3000) + "/{sha256}": "longer than 2048 bytes",
	} {
		_, err := Parse(spec)
		if assert.Error(t, err, spec) {
			assert.Contains(t, err.Error(), want, spec)
			assert.NotContains(t, err.Error(), "\n", spec)
			assert.NotContains(t, err.Error(), "pw@", "credentials are not repeated")
		}
	}
	_, err := Parse("oci+http://alice:s3cretPW@h/r")
	require.Error(t, err)
	assert.Equal(t, `mirror "oci+http://xxxxx@h/r": credentials do not belong in a mirror address; use docker login (DOCKER_CONFIG)`, err.Error())
	_, err = Parse("https://bob:hunter2@h/{sha256}?sig=abc")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.NotContains(t, err.Error(), "abc")
	for _, spec := range []string{"oci:u:pXw0rd@host/r", "oci://host/r#pXw0rd", "https://h/{sha256}#pXw0rd"} {
		_, err = Parse(spec)
		require.Error(t, err, spec)
		assert.NotContains(t, err.Error(), "pXw0rd")
	}
	_, err = ParseList(strings.Repeat("https://h/{sha256} ", MaxMirrors+1))
	assert.ErrorContains(t, err, "at most 16")
}

func TestParseListAndRedaction(t *testing.T) {
	ms, err := ParseList("  oci://r.example/m \t https://h/{sha256}?sig=secret ")
	require.NoError(t, err)
	require.Len(t, ms, 2)
	assert.Equal(t, "https://h/{sha256}?REDACTED", ms[1].String())
	_, err = ParseList("oci://r.example/m bogus")
	assert.Error(t, err)
	ms, err = ParseList("")
	require.NoError(t, err)
	assert.Empty(t, ms)
}
