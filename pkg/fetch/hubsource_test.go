package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testsrv"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// hubModel is a model of data read from src (hf://…), with pins when given
// (key = value pairs).
func hubModel(t *testing.T, data []byte, src string, pins ...string) *manifest.Model {
	t.Helper()
	text := fmt.Sprintf("version = 1\n[models.m]\npath = \"sub/m.bin\"\nurls = [%q]\n", src)
	if len(pins) == 2 {
		text += fmt.Sprintf("pins = { %q = %q }\n", pins[0], pins[1])
	}
	m, err := manifest.Parse("t.toml", "/", []byte(text))
	require.NoError(t, err)
	mod := m.Models[0]
	mod.SHA256, mod.Size = digest.Of(data), int64(len(data))
	return mod
}

func hubOpts(t *testing.T, e *env, h *testsrv.Hub, token string) Options {
	o := parallelOpts(e)
	u, err := url.Parse(h.URL)
	require.NoError(t, err)
	o.Hub = HubOptions{Endpoint: u, Token: token}
	if strings.HasPrefix(h.URL, "https:") {
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(h.CertPEM()))
		c := NewClient(nil, nil, o.IdleTimeout)
		c.Transport.(*authTransport).next.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
		o.Client = c
	}
	return o
}

func TestHubFetchPinnedAndMoving(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{})
	defer h.Close()
	big := randBytes(300<<10, 1)
	c1 := h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: big, LFS: true}, "cfg.json": {Data: []byte(`{"a":1}`)}})
	h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: randBytes(1000, 2), LFS: true}})

	e := newEnv(t)
	o := hubOpts(t, e, h, "")
	o.Cache = nil
	// Pinned: the first commit's bytes, though main has moved on.
	r := e.install(t, o, hubModel(t, big, "hf://org/repo/w.bin", "hf://org/repo@main", c1))
	require.NoError(t, r.Err)
	assert.Equal(t, big, readFile(t, r.Dest))
	c := h.Counts()
	assert.GreaterOrEqual(t, c.StorageGET, 2, "ranged, over several connections")
	assert.Equal(t, int64(len(big)), c.FileBytes)
	assert.Zero(t, c.StorageAuth)

	// Moving, unpinned: main's bytes now; the old digest is an integrity failure.
	e = newEnv(t)
	r = e.install(t, o, hubModel(t, big, "hf://org/repo/w.bin"))
	require.Error(t, r.Err)
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindIntegrity, fe.Kind)

	// A file stored in git, at a commit written in the reference.
	cfg := []byte(`{"a":1}`)
	r = e.install(t, o, hubModel(t, cfg, "hf://org/repo@"+c1+"/cfg.json"))
	require.NoError(t, r.Err)
	assert.Equal(t, cfg, readFile(t, r.Dest))
}

// A signed link that expires mid-download is resolved again, without
// spending a try: with no retries at all, the download still completes.
func TestHubExpiredLinkIsFree(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{})
	defer h.Close()
	data := randBytes(400<<10, 3)
	h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: data, LFS: true}})
	for _, status := range []int{403, 410} {
		h.SetFaults(testsrv.HubFaults{ExpireAfter: 2, ExpireStatus: status})
		h.ResetCounts()
		e := newEnv(t)
		o := hubOpts(t, e, h, "")
		o.Retries, o.Connections = 0, 2
		r := e.install(t, o, hubModel(t, data, "hf://org/repo/w.bin"))
		require.NoError(t, r.Err, status)
		assert.Equal(t, data, readFile(t, r.Dest))
		assert.Positive(t, h.Counts().Expired, "the links did expire")
	}
}

func TestHubRefusals(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{Token: "tok"})
	defer h.Close()
	h.Repo("models", "org/private", false, true)
	h.Push("models", "org/private", "main", map[string]testsrv.HubFile{"f": {Data: []byte("p")}})
	h.Repo("models", "org/gated", true, false)
	h.Push("models", "org/gated", "main", map[string]testsrv.HubFile{"f": {Data: []byte("g")}})
	h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"f": {Data: []byte("x")}, "page.bin": {Data: []byte("x"), HTML: true}})
	for src, want := range map[string]string{
		"hf://org/private/f":     "hf repo org/private: not found, or private: set HF_TOKEN (http 401 RepoNotFound)",
		"hf://org/nothere/f":     "hf repo org/nothere: not found, or private: set HF_TOKEN (http 401 RepoNotFound)",
		"hf://org/gated/f":       "hf repo org/gated: access refused (http 401 GatedRepo): it needs HF_TOKEN and an accepted licence",
		"hf://org/repo@v9/f":     `hf repo org/repo: no revision "v9" (http 404 RevisionNotFound)`,
		"hf://org/repo/nope":     `hf repo org/repo: no file "nope" at main (http 404 EntryNotFound)`,
		"hf://org/repo/page.bin": "served a web page (text/html; charset=utf-8) where a file was expected",
	} {
		h.ResetCounts()
		e := newEnv(t)
		r := e.install(t, hubOpts(t, e, h, ""), hubModel(t, []byte("x"), src))
		require.Error(t, r.Err, src)
		var fe *Error
		require.ErrorAs(t, r.Err, &fe)
		require.Len(t, fe.Sources, 1)
		assert.Equal(t, want, fe.Sources[0].Reason(), src)
		assert.Equal(t, 1, h.Counts().Requests, "%s: final at once", src)
	}
	h.SetFaults(testsrv.HubFaults{RedirectLoop: true})
	e := newEnv(t)
	r := e.install(t, hubOpts(t, e, h, ""), hubModel(t, []byte("x"), "hf://org/repo/f"))
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "stopped after 10 redirects")
}

func TestHubTokenGoesToTheHubOnly(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{TLS: true, Token: "s3cret"})
	defer h.Close()
	data := randBytes(200<<10, 4)
	h.Repo("models", "org/gated", true, false)
	h.Push("models", "org/gated", "main", map[string]testsrv.HubFile{"w.bin": {Data: data, LFS: true}})
	e := newEnv(t)
	r := e.install(t, hubOpts(t, e, h, "s3cret"), hubModel(t, data, "hf://org/gated/w.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, r.Dest))
	assert.Zero(t, h.Counts().StorageAuth, "the token went to the storage host")

	// The Hub asks for more than the token gives: final, with the hint.
	e = newEnv(t)
	r = e.install(t, hubOpts(t, e, h, "wrong"), hubModel(t, data, "hf://org/gated/w.bin"))
	var he *HubError
	require.ErrorAs(t, r.Err, &he)
	assert.Equal(t, 403, he.Status)
	assert.Contains(t, he.Hint(), "accepted org/gated's licence")
	assert.NotContains(t, r.Err.Error(), "wrong")
}

func TestHubRateLimited(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{})
	defer h.Close()
	h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"f": {Data: []byte("x")}})
	h.SetFaults(testsrv.HubFaults{RateLimit: 1})
	e := newEnv(t)
	r := e.install(t, hubOpts(t, e, h, ""), hubModel(t, []byte("x"), "hf://org/repo/f"))
	require.NoError(t, r.Err)
	assert.Equal(t, 2, h.Counts().Requests)
}

func TestHubMissingAtThePin(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{})
	defer h.Close()
	c1 := h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"a": {Data: []byte("a")}})
	h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"b": {Data: []byte("b")}})
	e := newEnv(t)
	r := e.install(t, hubOpts(t, e, h, ""), hubModel(t, []byte("b"), "hf://org/repo/b", "hf://org/repo@main", c1))
	var he *HubError
	require.ErrorAs(t, r.Err, &he)
	assert.Equal(t, `hf repo org/repo: no file "b" at main (pinned to `+c1+`) (http 404 EntryNotFound)`, he.Error())
}

// A Hub that cannot be reached costs one source's tries, not one per model.
func TestHubUnreachableOnce(t *testing.T) {
	e := newEnv(t)
	o := e.opts()
	u, _ := url.Parse("http://127.0.0.1:1")
	o.Hub.Endpoint = u
	a, b := hubModel(t, []byte("a"), "hf://org/a/f"), hubModel(t, []byte("b"), "hf://other/b/f")
	b.Name, b.Path = "b", "b.bin"
	o.Jobs = 1
	res := New(o).Install(context.Background(), []Target{e.target(a), e.target(b)})
	require.Len(t, res, 2)
	require.Error(t, res[0].Err)
	require.Error(t, res[1].Err)
	notTried := 0
	for _, r := range res {
		if strings.Contains(r.Err.Error(), "not tried: 127.0.0.1:1 was unreachable earlier in this run") {
			notTried++
		}
	}
	assert.Equal(t, 1, notTried, "%v; %v", res[0].Err, res[1].Err)
}

// What became of the token is what the error says: withheld over plain
// http, refused by the Hub (its message kept), or valid but not enough.
// HF_TOKEN is read without the newline and spaces around it.
func TestHubTokenMessages(t *testing.T) {
	reason := func(t *testing.T, o Options, e *env, src string) (string, string) {
		t.Helper()
		r := e.install(t, o, hubModel(t, []byte("x"), src))
		var he *HubError
		require.ErrorAs(t, r.Err, &he, src)
		var fe *Error
		require.ErrorAs(t, r.Err, &fe)
		return fe.Sources[0].Reason(), he.Hint()
	}
	plain := testsrv.StartHub(testsrv.HubOptions{Token: "tok"})
	defer plain.Close()
	plain.Repo("models", "org/gated", true, false)
	plain.Push("models", "org/gated", "main", map[string]testsrv.HubFile{"f": {Data: []byte("g")}})
	e := newEnv(t)
	msg, hint := reason(t, hubOpts(t, e, plain, "tok"), e, "hf://org/gated/f")
	assert.Equal(t, "hf repo org/gated: not found, private or gated (http 401 GatedRepo); HF_TOKEN is set but not sent to a plain-http HF_ENDPOINT", msg)
	assert.Contains(t, hint, "https only")

	h := testsrv.StartHub(testsrv.HubOptions{TLS: true, Token: "hf_good", OtherToken: "hf_other", StrictTokens: true})
	defer h.Close()
	h.Repo("models", "org/private", false, true)
	h.Push("models", "org/private", "main", map[string]testsrv.HubFile{"f": {Data: []byte("x")}})
	h.Push("models", "org/public", "main", map[string]testsrv.HubFile{"f": {Data: []byte("x")}})
	msg, hint = reason(t, hubOpts(t, e, h, "hf_expired"), e, "hf://org/public/f")
	assert.Equal(t, "hf repo org/public: the Hub refused HF_TOKEN (http 401): Invalid credentials in Authorization header", msg)
	assert.Contains(t, hint, "HF_TOKEN is invalid or expired")
	msg, hint = reason(t, hubOpts(t, e, h, "hf_other"), e, "hf://org/private/f")
	assert.Equal(t, "hf repo org/private: not found, or HF_TOKEN may not read it (http 404 RepoNotFound)", msg)
	assert.Equal(t, "check the name, and that the account of HF_TOKEN may read org/private", hint)

	e = newEnv(t)
	r := e.install(t, hubOpts(t, e, h, " hf_good\r\n"), hubModel(t, []byte("x"), "hf://org/private/f"))
	require.NoError(t, r.Err, "a token from a secret file written by echo")
}

// A pinned commit gone upstream is reported as the pin, with lock --update.
func TestHubPinGone(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{})
	defer h.Close()
	h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"f": {Data: []byte("x")}})
	e := newEnv(t)
	gone := strings.Repeat("ab", 20)
	r := e.install(t, hubOpts(t, e, h, ""), hubModel(t, []byte("x"), "hf://org/repo/f", "hf://org/repo@main", gone))
	var he *HubError
	require.ErrorAs(t, r.Err, &he)
	assert.Equal(t, `hf repo org/repo: no commit `+gone+`, the pin of "main" (http 404 RevisionNotFound)`, he.Error())
	assert.Equal(t, "the pinned commit is no longer on the Hub: run `modelfetch lock --update=m` to pin \"main\" again", he.Hint())
}
