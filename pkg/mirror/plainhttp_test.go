package mirror

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// TestPlainHTTPRegistryNamedHTTPS: a registry named oci:// (https) that
// answers plain http is said to be so, with the oci+http:// form to use;
// it is not an authentication failure.
func TestPlainHTTPRegistryNamedHTTPS(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	c := &http.Client{Transport: Transport(http.DefaultTransport, []Mirror{{Kind: OCI, Registry: host}}, nil)}
	_, err := c.Get("https://" + host + "/v2/acme/m/manifests/v1")
	require.Error(t, err)
	var pe *PlainHTTPError
	require.True(t, errors.As(err, &pe), "%v", err)
	assert.NotContains(t, err.Error(), "authentication")
	assert.Contains(t, err.Error(), "registry "+host+" answers plain http, not https (for a plain-http registry write oci+http://"+host+"/…)")
	var ae *AuthError
	assert.False(t, errors.As(err, &ae))
}

// TestWrongCredentialsAreSaidRefused: credentials that were found and
// offered, and refused, are said to be wrong (check docker login), not
// missing; with none, they are said to be missing.
func TestWrongCredentialsAreSaidRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="r"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	mirrors := []Mirror{{Kind: OCI, Registry: host, PlainHTTP: true}}
	wrong := func(context.Context, string) (auth.Credential, error) {
		return auth.Credential{Username: "alice", Password: "wrong"}, nil
	}
	c := &http.Client{Transport: Transport(http.DefaultTransport, mirrors, wrong)}
	_, err := c.Get(srv.URL + "/v2/acme/m/manifests/v1")
	var ae *AuthError
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, http.StatusUnauthorized, ae.Status)
	assert.Contains(t, err.Error(), "registry "+host+": refused the credentials configured for it (401 unauthorized): check docker login "+host+" and the repository's name")
	assert.NotContains(t, err.Error(), "wrong")

	c = &http.Client{Transport: Transport(http.DefaultTransport, mirrors, nil)}
	_, err = c.Get(srv.URL + "/v2/acme/m/manifests/v1")
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.True(t, ae.Anonymous)
	assert.Contains(t, err.Error(), "none are configured for it")
}
