package testsrv

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegistryAnswersAndStops(t *testing.T) {
	r := NewTestRegistry(t, RegistryOptions{})
	resp, err := http.Get("http://" + r.Addr + "/v2/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.FileExists(t, r.LogPath)
	r.Stop()
	_, err = http.Get("http://" + r.Addr + "/v2/")
	assert.Error(t, err, "the registry still answers after Stop")
	r.Stop() // twice is fine
}

func TestRegistryBasicAuth(t *testing.T) {
	r := NewTestRegistry(t, RegistryOptions{Users: map[string]string{"ci": "s3cret"}})
	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{"", "", http.StatusUnauthorized},
		{"ci", "wrong", http.StatusUnauthorized},
		{"ci", "s3cret", http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodGet, "http://"+r.Addr+"/v2/", nil)
		require.NoError(t, err)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, tc.want, resp.StatusCode, "user %q password %q", tc.user, tc.pass)
	}
	b, err := os.ReadFile(r.LogPath)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "s3cret")
}

// A blob uploaded through the API lands at BlobPath, where tests corrupt it.
func TestRegistryBlobPath(t *testing.T) {
	r := NewTestRegistry(t, RegistryOptions{})
	const data = "hello\n"
	const hex = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
	resp, err := http.Post("http://"+r.Addr+"/v2/t/blobs/uploads/", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	loc, err := resp.Location()
	require.NoError(t, err)
	q := loc.Query()
	q.Set("digest", "sha256:"+hex)
	loc.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodPut, loc.String(), strings.NewReader(data))
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	b, err := os.ReadFile(r.BlobPath(hex))
	require.NoError(t, err)
	assert.Equal(t, data, string(b))
}
