package fetch

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/pkg/mirror"
)

// Mirrors: content-addressed stores tried before a model's own sources
// (issue 12). The registry itself is tested for real in cmd/modelfetch's
// journeys and pkg/mirror; here, what the pipeline does with each answer.

func mirrorOf(t *testing.T, spec string) []mirror.Mirror {
	t.Helper()
	m, err := mirror.Parse(spec)
	require.NoError(t, err)
	return []mirror.Mirror{m}
}

func TestHashedMirrorIsTriedFirst(t *testing.T) {
	data := randomBytes(50_000, 1)
	origin := newServer(t, serveRanges(data))
	var paths []string
	mir := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		paths = append(paths, r.URL.Path)
		serveRanges(data)(w, r, n)
	})
	e := newEnv(t)
	o := e.opts()
	o.Mirrors = mirrorOf(t, mir.URL+"/by-sha256/{sha256}")
	m := model(data, origin.URL+"/m.bin")
	r := e.install(t, o, m)
	require.NoError(t, r.Err)
	assert.Equal(t, 0, origin.count(), "the origin is not asked when the mirror has the file")
	assert.Equal(t, []string{"/by-sha256/" + m.SHA256.String()}, paths)
	assert.Equal(t, mir.URL+"/by-sha256/"+m.SHA256.String(), r.Source)
	assert.Equal(t, mir.URL+"/by-sha256/{sha256}", r.Mirror)
	assert.Equal(t, data, readFile(t, filepath.Join(e.root, m.Path)))
}

func TestMirrorMissIsQuiet(t *testing.T) {
	data := randomBytes(20_000, 2)
	origin := newServer(t, serveRanges(data))
	mir := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) { http.NotFound(w, nil) })
	e := newEnv(t)
	o := e.opts()
	o.Mirrors = mirrorOf(t, mir.URL+"/{sha256}")
	r := e.install(t, o, model(data, origin.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, 1, mir.count(), "a 404 is not retried")
	assert.Empty(t, e.obs.failed, "a miss is not a failure worth a line")
	assert.Equal(t, origin.URL+"/m.bin", r.Source)
	assert.Empty(t, r.Mirror)
}

func TestMirrorServingWrongBytesFailsThatSourceOnly(t *testing.T) {
	data := randomBytes(20_000, 3)
	bad := append([]byte(nil), data...)
	bad[100] ^= 1
	origin := newServer(t, serveRanges(data))
	mir := newServer(t, serveRanges(bad))
	e := newEnv(t)
	o := e.opts()
	o.Mirrors = mirrorOf(t, mir.URL+"/{sha256}")
	r := e.install(t, o, model(data, origin.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, StatusInstalled, r.Status)
	require.Len(t, e.obs.failed, 1)
	assert.Contains(t, e.obs.failed[0], "sha256 mismatch")
	assert.Equal(t, 1, mir.count(), "wrong bytes are not retried")
	assert.Equal(t, origin.URL+"/m.bin", r.Source)
}

func TestMirrorOnlyNeverReachesTheOrigin(t *testing.T) {
	data := randomBytes(20_000, 4)
	origin := newServer(t, serveRanges(data))
	mir := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) { http.NotFound(w, nil) })
	e := newEnv(t)
	o := e.opts()
	o.Mirrors = mirrorOf(t, mir.URL+"/{sha256}")
	o.MirrorOnly = true
	r := e.install(t, o, model(data, origin.URL+"/m.bin"))
	require.Error(t, r.Err)
	assert.Equal(t, 0, origin.count())
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindNetwork, fe.Kind)
	lines := strings.Join(fe.Lines(), "\n")
	assert.Contains(t, lines, "not in the mirror "+mir.URL+"/{sha256}")
	assert.Contains(t, lines, "mirror-only")
	e.assertClean(t)

	// And with the file in the mirror, --mirror-only installs it.
	mir.handle = serveRanges(data)
	r = e.install(t, o, model(data, origin.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, 0, origin.count())
}

func TestUnauthorisedMirrorFallsBackToTheOrigin(t *testing.T) {
	data := randomBytes(20_000, 5)
	origin := newServer(t, serveRanges(data))
	mir := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusForbidden) })
	e := newEnv(t)
	o := e.opts()
	o.Mirrors = mirrorOf(t, mir.URL+"/{sha256}")
	r := e.install(t, o, model(data, origin.URL+"/m.bin"))
	require.NoError(t, r.Err)
	require.Len(t, e.obs.failed, 1)
	assert.Contains(t, e.obs.failed[0], "http 403 forbidden")
	assert.Equal(t, 1, mir.count(), "a 403 is not retried")
}

func TestFileMirror(t *testing.T) {
	data := randomBytes(20_000, 6)
	dir := t.TempDir()
	m := model(data, "http://127.0.0.1:1/never")
	require.NoError(t, os.WriteFile(filepath.Join(dir, m.SHA256.String()), data, 0o644))
	e := newEnv(t)
	o := e.opts()
	o.Offline = true // a file: mirror is on this machine: allowed offline
	o.Mirrors = mirrorOf(t, "file://"+dir+"/{sha256}")
	r := e.install(t, o, m)
	require.NoError(t, r.Err)
	assert.Equal(t, "file://"+dir+"/{sha256}", r.Mirror)

	// A file: mirror without the file is a quiet miss.
	e2 := newEnv(t)
	o2 := e2.opts()
	o2.Mirrors = mirrorOf(t, "file://"+t.TempDir()+"/{sha256}")
	origin := newServer(t, serveRanges(data))
	r = e2.install(t, o2, model(data, origin.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Empty(t, e2.obs.failed)
}

// fakeRegistry answers blob GETs only with a bearer token from its token
// endpoint (which wants basic credentials), and redirects them to a
// storage host, as registries backed by S3 do.
type fakeRegistry struct {
	reg, storage   *httptest.Server
	tokens         atomic.Int32 // tokens handed out
	unauthorised   atomic.Int32 // blob requests without a valid token
	storageAuth    atomic.Int32 // storage requests that carried an Authorization header
	storageGets    atomic.Int32
	user, password string
}

func newFakeRegistry(t *testing.T, data []byte) *fakeRegistry {
	f := &fakeRegistry{user: "builder", password: "s3cret"}
	f.storage = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.storageGets.Add(1)
		if r.Header.Get("Authorization") != "" {
			f.storageAuth.Add(1)
		}
		serveRanges(data)(w, r, 0)
	}))
	t.Cleanup(f.storage.Close)
	f.reg = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte(f.user+":"+f.password))
			if r.Header.Get("Authorization") != want || r.URL.Query().Get("scope") != "repository:team/models:pull" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			f.tokens.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"token":"tok-1"}`))
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			f.unauthorised.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+f.reg.URL+`/token",service="test",scope="repository:team/models:pull"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, f.storage.URL+"/blob?X-Amz-Signature=abc", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(f.reg.Close)
	return f
}

func (f *fakeRegistry) options(t *testing.T, e *env, password string) Options {
	ms := mirrorOf(t, "oci+http://"+strings.TrimPrefix(f.reg.URL, "http://")+"/team/models")
	cred := func(_ context.Context, host string) (auth.Credential, error) {
		return auth.Credential{Username: f.user, Password: password}, nil
	}
	c := NewClient(nil, nil, 2*time.Second)
	c.Transport = mirror.Transport(c.Transport, ms, cred)
	o := e.opts()
	o.Client, o.Mirrors = c, ms
	o.Connections, o.ChunkSize = 4, 16<<10
	return o
}

func TestRegistryMirrorTokenFlow(t *testing.T) {
	data := randomBytes(200_000, 7) // 13 chunks of 16 KiB
	origin := newServer(t, serveRanges(data))
	f := newFakeRegistry(t, data)
	e := newEnv(t)
	o := f.options(t, e, f.password)
	o.Cache, o.Jobs = nil, 1
	var targets []Target
	for _, name := range []string{"a", "b", "c"} {
		m := model(data, origin.URL+"/m.bin")
		m.Name, m.Path = name, name+".bin"
		targets = append(targets, e.target(m))
	}
	for _, r := range New(o).Install(context.Background(), targets) {
		require.NoError(t, r.Err)
		assert.NotContains(t, r.Source, "Signature")
	}
	assert.Equal(t, 0, origin.count())
	assert.Equal(t, int32(1), f.tokens.Load(), "one token for the whole run")
	assert.Equal(t, int32(1), f.unauthorised.Load(), "one challenge, then the cached token for every blob")
	assert.Greater(t, f.storageGets.Load(), int32(3*4), "chunks go to the storage host")
	assert.Zero(t, f.storageAuth.Load(), "no credential or token follows the redirect to storage")
}

func TestRegistryMirrorWrongPasswordFallsBackToTheOrigin(t *testing.T) {
	data := randomBytes(20_000, 8)
	origin := newServer(t, serveRanges(data))
	f := newFakeRegistry(t, data)
	e := newEnv(t)
	r := e.install(t, f.options(t, e, "wrong"), model(data, origin.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, origin.URL+"/m.bin", r.Source)
	require.Len(t, e.obs.failed, 1)
	assert.Contains(t, e.obs.failed[0], "the token service refused the credentials (401 unauthorized)")
	assert.NotContains(t, e.obs.failed[0], "wrong")
	assert.Empty(t, e.obs.retries, "refused credentials are not retried")
	assert.Zero(t, f.storageGets.Load())
}

// An unreachable mirror (nothing listens) is one line, not retried, and the
// origin serves; the other models of the run do not try it again.
func TestUnreachableMirrorFallsBackToTheOrigin(t *testing.T) {
	data := randomBytes(20_000, 9)
	origin := newServer(t, serveRanges(data))
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	e := newEnv(t)
	o := e.opts()
	o.Cache, o.Jobs = nil, 1
	o.Mirrors = mirrorOf(t, deadURL+"/{sha256}")
	var targets []Target
	for _, name := range []string{"a", "b"} {
		m := model(data, origin.URL+"/m.bin")
		m.Name, m.Path = name, name+".bin"
		targets = append(targets, e.target(m))
	}
	for _, r := range New(o).Install(context.Background(), targets) {
		require.NoError(t, r.Err)
		assert.Equal(t, origin.URL+"/m.bin", r.Source)
	}
	assert.Empty(t, e.obs.retries, "another source is waiting: no retries")
	require.Len(t, e.obs.failed, 2)
	assert.Contains(t, e.obs.failed[0], "connection refused")
	assert.Contains(t, e.obs.failed[1], "unreachable earlier in this run")
}
