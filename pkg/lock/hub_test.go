package lock

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testsrv"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/rules"
)

const hubManifest = `version = 1
# weights from the Hub
[models.w]
path = "w.bin"   # LFS
urls = ["hf://org/repo/w.bin"]

[models.cfg]
path = "cfg.json"
urls = ["hf://org/repo/cfg.json"]
`

type hubEnv struct {
	h   *testsrv.Hub
	f   *fetch.Fetcher
	src []byte
}

func newHubEnv(t *testing.T) *hubEnv {
	h := testsrv.StartHub(testsrv.HubOptions{})
	t.Cleanup(h.Close)
	u, err := url.Parse(h.URL)
	require.NoError(t, err)
	f := fetch.New(fetch.Options{Hub: fetch.HubOptions{Endpoint: u}, BackoffBase: 1, BackoffMax: 1})
	return &hubEnv{h: h, f: f, src: []byte(hubManifest)}
}

// lock runs Run over the current text and applies its edits.
func (e *hubEnv) lock(t *testing.T, o Options, download bool) *Report {
	t.Helper()
	m, err := manifest.Parse("m.toml", "/", e.src)
	require.NoError(t, err)
	hp := HubProber{Next: e.f, Hub: e.f, Download: download}
	o.Resolver = hp
	rep, err := Run(context.Background(), hp, m.Models, o)
	require.NoError(t, err)
	if len(rep.Edits) > 0 && !o.Check {
		e.src, err = manifest.Apply("m.toml", "/", e.src, rep.Edits)
		require.NoError(t, err)
	}
	return rep
}

func TestLockPinsAndHashesFromMetadata(t *testing.T) {
	e := newHubEnv(t)
	w1, cfg := []byte(strings.Repeat("weights v1 ", 1000)), []byte(`{"v":1}`)
	c1 := e.h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: w1, LFS: true}, "cfg.json": {Data: cfg}})

	rep := e.lock(t, Options{Check: true}, false)
	assert.Equal(t, OutcomeIncomplete, rep.Outcome())
	assert.Contains(t, rep.Findings[2].String(), "w: hf://org/repo/w.bin: no pin of hf://org/repo@main recorded")
	assert.Zero(t, e.h.Counts().Requests, "--check asks nothing")

	rep = e.lock(t, Options{}, false)
	assert.Empty(t, rep.Findings)
	c := e.h.Counts()
	assert.Zero(t, c.StorageGET, "no GET of the LFS file's bytes")
	assert.Equal(t, 1, c.ResolveGET, "the file stored in git is downloaded")
	assert.Equal(t, int64(len(cfg)), c.FileBytes)
	want := strings.Replace(hubManifest, "path = \"w.bin\"   # LFS\n", "path = \"w.bin\"   # LFS\nsha256 = \""+digest.Of(w1).String()+"\"\nsize = 11000\n", 1)
	want = strings.Replace(want, "urls = [\"hf://org/repo/w.bin\"]\n", "urls = [\"hf://org/repo/w.bin\"]\npins = { \"hf://org/repo@main\" = \""+c1+"\" }\n", 1)
	want = strings.Replace(want, "path = \"cfg.json\"\n", "path = \"cfg.json\"\nsha256 = \""+digest.Of(cfg).String()+"\"\nsize = 7\n", 1)
	want += "pins = { \"hf://org/repo@main\" = \"" + c1 + "\" }\n"
	assert.Equal(t, want, string(e.src))

	// Upstream moves on: a locked manifest is left alone, and checks clean
	// at its pin.
	w2 := []byte("weights v2")
	c2 := e.h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: w2, LFS: true}})
	assert.Empty(t, e.lock(t, Options{}, false).Edits)
	rep = e.lock(t, Options{Check: true, Named: map[string]bool{"w": true, "cfg": true}}, false)
	assert.Empty(t, rep.Findings)
	assert.Equal(t, OutcomeClean, rep.Outcome())

	// --update=w moves w's pin and its hashes; cfg keeps its own.
	rep = e.lock(t, Options{Update: map[string]bool{"w": true}, Named: map[string]bool{"w": true}}, false)
	assert.Equal(t, OutcomeClean, rep.Outcome())
	m, err := manifest.Parse("m.toml", "/", e.src)
	require.NoError(t, err)
	assert.Equal(t, c2, m.Model("w").Pins["hf://org/repo@main"])
	assert.Equal(t, digest.Of(w2), m.Model("w").SHA256)
	assert.Equal(t, c1, m.Model("cfg").Pins["hf://org/repo@main"])
	assert.Contains(t, rep.Findings[0].String(), "w: hf://org/repo@main: serves pin "+c2+", the manifest records "+c1+" (updated)")
}

func TestLockDownloadAndLies(t *testing.T) {
	e := newHubEnv(t)
	w := []byte(strings.Repeat("w", 3000))
	e.h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: w, LFS: true}, "cfg.json": {Data: []byte("{}")}})
	e.lock(t, Options{}, true)
	assert.Positive(t, e.h.Counts().StorageGET, "--download reads the bytes")
	m, err := manifest.Parse("m.toml", "/", e.src)
	require.NoError(t, err)
	assert.Equal(t, digest.Of(w), m.Model("w").SHA256, "metadata and download agree")

	// A Hub that lies: lock records the lie; fetch refuses the bytes.
	e2 := newHubEnv(t)
	e2.h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: w, LFS: true, LieSHA256: strings.Repeat("e", 64)},
		"cfg.json": {Data: []byte("{}")}})
	e2.lock(t, Options{}, false)
	m, err = manifest.Parse("m.toml", "/", e2.src)
	require.NoError(t, err)
	root := t.TempDir()
	res := e2.f.Install(context.Background(), []fetch.Target{{Model: m.Model("w"), Root: root, FileMode: 0o644, DirMode: 0o755}})
	var fe *fetch.Error
	require.ErrorAs(t, res[0].Err, &fe)
	assert.Equal(t, fetch.KindIntegrity, fe.Kind)
	assert.NoFileExists(t, root+"/w.bin")
}

func TestLockUnreachableHub(t *testing.T) {
	e := newHubEnv(t)
	rep := e.lock(t, Options{}, false)
	assert.Equal(t, OutcomeUnreachable, rep.Outcome())
	assert.Empty(t, rep.Edits)
	assert.Equal(t, "w: hf://org/repo/w.bin: hf repo org/repo: not found, or private: set HF_TOKEN (http 401 RepoNotFound)", rep.Findings[0].String())
}

// A pin is written only beside hashes read at it: when lock keeps the
// recorded values (upstream moved, no --update), it writes no pin either.
func TestLockNoPinBesideKeptHashes(t *testing.T) {
	e := newHubEnv(t)
	w1 := []byte(strings.Repeat("weights v1 ", 100))
	e.h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: w1, LFS: true}})
	e.src = []byte("version = 1\n[models.w]\npath = \"w.bin\"\nsha256 = \"" + digest.Of(w1).String() + "\"\nsize = 1100\nurls = [\"hf://org/repo/w.bin\"]\n")
	before := string(e.src)
	e.h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: []byte(strings.Repeat("weights v2 ", 200)), LFS: true}})
	rep := e.lock(t, Options{Named: map[string]bool{"w": true}}, false)
	assert.Equal(t, OutcomeIntegrity, rep.Outcome())
	assert.Empty(t, rep.Edits, "no pin beside the kept size and sha256")
	assert.Equal(t, before, string(e.src))
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, TooLarge, rep.Findings[0].Kind)

	// Same size, other bytes: the sha256 is kept, and so is the missing pin.
	e.src = []byte(strings.Replace(before, "size = 1100", "size = 2200", 1))
	rep = e.lock(t, Options{Named: map[string]bool{"w": true}}, false)
	assert.Equal(t, OutcomeIntegrity, rep.Outcome())
	assert.Empty(t, rep.Edits)
	assert.Contains(t, rep.Findings[0].String(), "(kept)")
}

// pushAfterResolve is a Resolver that lands a push on main right after it
// answers: the window between pinning and hashing.
type pushAfterResolve struct {
	HubProber
	h *testsrv.Hub
}

func (p pushAfterResolve) Resolve(ctx context.Context, r *manifest.Ref) (string, error) {
	c, err := p.HubProber.Resolve(ctx, r)
	p.h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: []byte("pushed meanwhile"), LFS: true}})
	return c, err
}

// Under a rewrite, an hf:// source is hashed through the rewritten URL of
// its pinned commit: a push after the pin does not change what is hashed.
func TestLockRewrittenHubSourceHashesThePin(t *testing.T) {
	e := newHubEnv(t)
	w1 := []byte(strings.Repeat("weights v1 ", 100))
	c1 := e.h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: w1, LFS: true}})
	r, err := rules.Parse("rules.toml", []byte("[[rewrite]]\nmatch = '^huggingface\\.co/(.*)$'\nto = [\""+e.h.URL+"/$1\"]\n"))
	require.NoError(t, err)
	m, err := manifest.Parse("m.toml", "/", []byte("version = 1\n[models.w]\npath = \"w.bin\"\nurls = [\"hf://org/repo/w.bin\"]\n"))
	require.NoError(t, err)
	site, err := r.Site(m.Models)
	require.NoError(t, err)
	hp := HubProber{Next: e.f, Hub: e.f}
	rep, err := Run(context.Background(), UnderRules(hp, site), m.Models, Options{Resolver: pushAfterResolve{hp, e.h}})
	require.NoError(t, err)
	require.Empty(t, rep.Findings)
	out, err := manifest.Apply("m.toml", "/", []byte("version = 1\n[models.w]\npath = \"w.bin\"\nurls = [\"hf://org/repo/w.bin\"]\n"), rep.Edits)
	require.NoError(t, err)
	got, err := manifest.Parse("m.toml", "/", out)
	require.NoError(t, err)
	assert.Equal(t, c1, got.Model("w").Pins["hf://org/repo@main"])
	assert.Equal(t, digest.Of(w1), got.Model("w").SHA256, "the bytes of the pinned commit, not of main")
}

// lock of a model pinned to a commit gone upstream names the pin, and the
// hint the model to update.
func TestLockPinGone(t *testing.T) {
	e := newHubEnv(t)
	e.h.Push("models", "org/repo", "main", map[string]testsrv.HubFile{"w.bin": {Data: []byte("w"), LFS: true}})
	gone := strings.Repeat("cd", 20)
	e.src = []byte("version = 1\n[models.w]\npath = \"w.bin\"\nurls = [\"hf://org/repo/w.bin\"]\npins = { \"hf://org/repo@main\" = \"" + gone + "\" }\n")
	rep := e.lock(t, Options{Named: map[string]bool{"w": true}}, false)
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, `w: hf://org/repo/w.bin: hf repo org/repo: no commit `+gone+`, the pin of "main" (http 404 RevisionNotFound)`, rep.Findings[0].String())
	var he *fetch.HubError
	require.ErrorAs(t, rep.Findings[0].Err, &he)
	assert.Contains(t, he.Hint(), "run `modelfetch lock --update=w`")
}
