package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/internal/testsrv"
)

func TestPushBasicAuth(t *testing.T) {
	const user, password = "builder", "correct horse battery"
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{Users: map[string]string{user: password}})
	blobs := []Blob{blob("a", "a.dat", data(20, 64<<10)), blob("b", "b.dat", data(21, 64<<10))}
	m := mirrorAt(t, reg.Addr, "private/models")
	cred := func(pass string) auth.CredentialFunc {
		return auth.StaticCredential(reg.Addr, auth.Credential{Username: user, Password: pass})
	}

	t.Run("right password", func(t *testing.T) {
		rep, err := Push(context.Background(), m, blobs, PushOptions{Client: noRetry(), Credential: cred(password)})
		require.NoError(t, err)
		assert.Equal(t, []BlobStatus{BlobUploaded, BlobUploaded}, statuses(rep))
		assert.FileExists(t, reg.BlobPath(blobs[0].Digest.String()))
	})
	for _, tc := range []struct {
		name string
		cred auth.CredentialFunc
		anon bool
	}{
		{name: "wrong password", cred: cred("wrong horse")},
		{name: "no credentials", anon: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := []Blob{blob("c", "c.dat", data(22, 1000))}
			rep, err := Push(context.Background(), m, other, PushOptions{Client: noRetry(), Credential: tc.cred})
			require.Error(t, err)
			assert.Nil(t, rep)
			msg := err.Error()
			t.Log(msg)
			assert.NotContains(t, msg, "\n")
			assert.Contains(t, msg, reg.Addr)
			assert.Contains(t, msg, "private/models")
			assert.NotContains(t, msg, "horse")
			assert.Equal(t, strings.ToLower(msg[:1]), msg[:1])
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusUnauthorized, ae.Status)
			assert.Equal(t, tc.anon, ae.Anonymous)
			assert.NoFileExists(t, reg.BlobPath(other[0].Digest.String()))
		})
	}
}

// A registry behind a token service, as Docker Hub, GHCR and Harbor are:
// the client trades its basic credentials for a bearer token, once.
func TestPushBearerToken(t *testing.T) {
	const token = "T0KEN"
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	f := newFront(t, reg)
	var (
		mu           sync.Mutex
		tokenAsks    int
		unauthorized int
	)
	f.gate = tokenGate(f, token, &mu, &tokenAsks, &unauthorized)
	var blobs []Blob
	for i := range 6 {
		blobs = append(blobs, blob("m", fmt.Sprintf("f%d.dat", i), data(uint64(50+i), 20<<10)))
	}
	m := mirrorAt(t, f.host(), "models")
	cred := auth.StaticCredential(f.host(), auth.Credential{Username: "ci", Password: "pa55"})
	rep, err := Push(context.Background(), m, blobs, PushOptions{Client: noRetry(), Credential: cred})
	require.NoError(t, err)
	assert.Len(t, rep.Blobs, 6)
	for _, b := range rep.Blobs {
		assert.Equal(t, BlobUploaded, b.Status)
	}
	mu.Lock()
	t.Logf("token requests %d, 401s %d, %d requests", tokenAsks, unauthorized, f.count("HEAD")+f.count("POST")+f.count("PUT"))
	assert.LessOrEqual(t, tokenAsks, 2, "a token per push, not per request")
	assert.LessOrEqual(t, unauthorized, pushConcurrency, "after the first challenges every request carries the token")
	mu.Unlock()

	rep, err = Push(context.Background(), m, blobs, PushOptions{Client: noRetry(), Credential: cred})
	require.NoError(t, err)
	assert.True(t, rep.ManifestExisted)

	bad := auth.StaticCredential(f.host(), auth.Credential{Username: "ci", Password: "guess"})
	_, err = Push(context.Background(), m, blobs, PushOptions{Client: noRetry(), Credential: bad})
	require.Error(t, err)
	t.Log(err)
	var ae *AuthError
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.NotContains(t, err.Error(), "guess")
	assert.NotContains(t, err.Error(), "\n")
}

// tokenGate is a token service at /token (basic ci:pa55 for token) in front
// of the registry, which then asks every request for the bearer token.
func tokenGate(f *front, token string, mu *sync.Mutex, tokenAsks, unauthorized *int) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			mu.Lock()
			*tokenAsks++
			mu.Unlock()
			if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "pa55" {
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":%q}`, token)
			return false
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			mu.Lock()
			*unauthorized++
			mu.Unlock()
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="x",scope="repository:models:pull,push"`, f.URL))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return false
		}
		return true
	}
}
