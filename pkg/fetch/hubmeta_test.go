package fetch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testsrv"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

func ref(t *testing.T, s string) *manifest.Ref {
	r, err := manifest.ParseRepoRef(s)
	require.NoError(t, err)
	return r
}

func TestHubMetadata(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{PageSize: 2})
	defer h.Close()
	w := randBytes(5000, 7)
	c1 := h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{
		"w.bin": {Data: w, LFS: true}, "cfg.json": {Data: []byte("{}")}, "d/a.bin": {Data: []byte("a"), LFS: true}, "d/e/b.txt": {Data: []byte("b")},
	})
	e := newEnv(t)
	f := New(hubOpts(t, e, h, ""))
	ctx := context.Background()

	got, err := f.HubRevision(ctx, ref(t, "hf://org/repo@main"))
	require.NoError(t, err)
	assert.Equal(t, c1, got)

	r := ref(t, "hf://org/repo/w.bin")
	r.Pin = c1
	m, err := f.HubFileMeta(ctx, r)
	require.NoError(t, err)
	assert.Equal(t, HubMeta{Commit: c1, SHA256: digest.Of(w), Size: 5000}, m)
	m, err = f.HubFileMeta(ctx, ref(t, "hf://org/repo/cfg.json"))
	require.NoError(t, err)
	assert.Equal(t, HubMeta{Commit: c1, Size: 2}, m, "a file stored in git has no sha256")
	c := h.Counts()
	assert.Zero(t, c.StorageGET+c.ResolveGET, "no GET of any file's bytes")
	assert.Zero(t, c.FileBytes)

	es, err := f.HubTree(ctx, ref(t, "hf://org/repo"), c1)
	require.NoError(t, err)
	var files []string
	for _, e := range es {
		if e.Type == "file" {
			files = append(files, e.Path)
		}
	}
	assert.Equal(t, []string{"cfg.json", "d/a.bin", "d/e/b.txt", "w.bin"}, files, "every page")
}

func TestHubMetadataBounded(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{PageSize: 1})
	defer h.Close()
	c1 := h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"a": {Data: []byte("a")}})
	e := newEnv(t)
	f := New(hubOpts(t, e, h, ""))
	ctx := context.Background()
	for _, tc := range []struct {
		faults testsrv.HubFaults
		want   string
	}{
		{testsrv.HubFaults{APINotJSON: true}, "the Hub's answer is not the JSON expected (text/html)"},
		{testsrv.HubFaults{APIHuge: true}, "the Hub's answer is larger than 1048576 bytes (1 MiB)"},
	} {
		h.SetFaults(tc.faults)
		_, err := f.HubRevision(ctx, ref(t, "hf://org/repo@main"))
		assert.ErrorContains(t, err, tc.want)
		_, err = f.HubTree(ctx, ref(t, "hf://org/repo"), c1)
		assert.ErrorContains(t, err, tc.want)
	}
	h.SetFaults(testsrv.HubFaults{APIEndless: true})
	h.ResetCounts()
	_, err := f.HubTree(ctx, ref(t, "hf://org/repo"), c1)
	assert.EqualError(t, err, "hf repo org/repo: the tree has more than 100 pages; refusing to read on")
	assert.Equal(t, MaxHubPages, h.Counts().API)

	h.SetFaults(testsrv.HubFaults{RedirectLoop: true})
	_, err = f.HubFileMeta(ctx, ref(t, "hf://org/repo/a"))
	assert.ErrorContains(t, err, "stopped after 10 redirects")

	h.SetFaults(testsrv.HubFaults{RateLimit: 1})
	_, err = f.HubRevision(ctx, ref(t, "hf://org/repo@main"))
	assert.NoError(t, err, "a 429 waits for its Retry-After")

	h.SetFaults(testsrv.HubFaults{})
	_, err = f.HubRevision(ctx, ref(t, "hf://org/nothere@main"))
	assert.EqualError(t, err, "hf repo org/nothere: not found, or private: set HF_TOKEN (http 401 RepoNotFound)")
	_, err = f.HubRevision(ctx, ref(t, "hf://org/repo@v7"))
	assert.EqualError(t, err, `hf repo org/repo: no revision "v7" (http 404 RevisionNotFound)`)
}

// Datasets and spaces have their type in every URL; a revision with '/' is
// one escaped path part.
func TestHubTypesAndSlashedRevisions(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{})
	defer h.Close()
	d := h.Push("datasets", "org/d", "refs/pr/3", map[string]testsrv.HubFile{"x/y.bin": {Data: []byte("xy"), LFS: true}})
	s := h.Push("spaces", "org/s", "main", map[string]testsrv.HubFile{"app.py": {Data: []byte("print(1)")}})
	e := newEnv(t)
	f := New(hubOpts(t, e, h, ""))
	ctx := context.Background()
	got, err := f.HubRevision(ctx, ref(t, "hf://datasets/org/d@refs%2Fpr%2F3"))
	require.NoError(t, err)
	assert.Equal(t, d, got)
	m, err := f.HubFileMeta(ctx, ref(t, "hf://datasets/org/d@refs%2Fpr%2F3/x/y.bin"))
	require.NoError(t, err)
	assert.Equal(t, digest.Of([]byte("xy")), m.SHA256)
	got, err = f.HubRevision(ctx, ref(t, "hf://spaces/org/s"))
	require.NoError(t, err)
	assert.Equal(t, s, got)
	r := e.install(t, hubOpts(t, e, h, ""), hubModel(t, []byte("print(1)"), "hf://spaces/org/s/app.py"))
	require.NoError(t, r.Err)
	_, err = f.HubRevision(ctx, ref(t, "hf://org/d@refs%2Fpr%2F3"))
	assert.ErrorContains(t, err, "RepoNotFound", "a dataset is not a model")
}

// An API answer that stops after its headers is a stall, like a download's.
func TestHubAPIStallAfterHeaders(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{})
	defer h.Close()
	c1 := h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"a": {Data: []byte("a")}})
	e := newEnv(t)
	o := hubOpts(t, e, h, "")
	o.IdleTimeout = 300 * time.Millisecond
	f := New(o)
	h.SetFaults(testsrv.HubFaults{APIStall: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := f.HubRevision(ctx, ref(t, "hf://org/repo@main"))
	assert.ErrorContains(t, err, "stalled: no data for 300ms")
	_, err = f.HubTree(ctx, ref(t, "hf://org/repo"), c1)
	assert.ErrorContains(t, err, "stalled: no data for 300ms")
	assert.NoError(t, ctx.Err(), "given up on by the idle timeout")
	assert.Less(t, time.Since(start), 10*time.Second)

	// A byte now and then keeps the idle timer fed: the answer's deadline
	// (four idle timeouts) still ends it.
	o.MinSpeed = -1
	f = New(o)
	h.SetFaults(testsrv.HubFaults{APITrickle: 50 * time.Millisecond})
	start = time.Now()
	_, err = f.HubRevision(ctx, ref(t, "hf://org/repo@main"))
	assert.ErrorContains(t, err, "stalled: the answer was not complete within 1.2s")
	assert.Less(t, time.Since(start), 5*time.Second)
}

// An endpoint the url rules block is asked nothing, and gets no token.
func TestHubRefusedEndpointIsNotAsked(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{TLS: true, Token: "hf_secret"})
	defer h.Close()
	c1 := h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"a": {Data: []byte("a"), LFS: true}})
	e := newEnv(t)
	o := hubOpts(t, e, h, "hf_secret")
	o.Hub.Refuse = func(host string) error { return errors.New("blocked by the url rules in r.toml (" + host + ")") }
	f := New(o)
	ctx := context.Background()
	host := strings.TrimPrefix(h.URL, "https://")
	want := "hf repo org/repo: the Hub's endpoint " + host + " is blocked by the url rules in r.toml (" + host + ")"
	_, err := f.HubRevision(ctx, ref(t, "hf://org/repo@main"))
	assert.EqualError(t, err, want)
	var he *HubError
	require.ErrorAs(t, err, &he)
	assert.Contains(t, he.Hint(), "set HF_ENDPOINT")
	_, err = f.HubTree(ctx, ref(t, "hf://org/repo"), c1)
	assert.EqualError(t, err, want)
	_, err = f.HubFileMeta(ctx, ref(t, "hf://org/repo/a"))
	assert.ErrorContains(t, err, "is blocked by the url rules")
	r := e.install(t, o, hubModel(t, []byte("a"), "hf://org/repo/a"))
	assert.ErrorContains(t, r.Err, "is blocked by the url rules")
	assert.Zero(t, h.Counts().Requests, "not one request to the blocked endpoint")
}

// A Retry-After beyond what the run waits is waited at the cap once (the
// Hub is the last source of its answer); asked again, the API request
// gives up, saying so, instead of waiting at the cap on every try.
func TestHubAPILongRetryAfter(t *testing.T) {
	h := testsrv.StartHub(testsrv.HubOptions{})
	defer h.Close()
	h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"a": {Data: []byte("a")}})
	e := newEnv(t)
	o := hubOpts(t, e, h, "")
	o.Retries, o.MaxRetryAfter = 3, 500*time.Millisecond
	f := New(o)
	h.SetFaults(testsrv.HubFaults{RateLimit: 10, RetryAfter: 86400})
	start := time.Now()
	_, err := f.HubRevision(context.Background(), ref(t, "hf://org/repo@main"))
	assert.ErrorContains(t, err, "asking to retry after 24h0m0s, beyond the 500ms this run waits")
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
	assert.Equal(t, 2, h.Counts().Requests)
}
