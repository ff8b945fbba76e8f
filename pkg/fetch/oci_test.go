package fetch

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	godigest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/internal/testsrv"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/mirror"
	"github.com/djok/modelfetch/pkg/oci"
)

// oci:// sources through the pipeline, against the real docker-registry
// behind a proxy that records what is asked of it.

type ociLog struct {
	mu   sync.Mutex
	reqs []string // METHOD PATH [RANGE]
}

func (l *ociLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := r.Method + " " + r.URL.Path
	if rg := r.Header.Get("Range"); rg != "" {
		s += " " + rg
	}
	l.reqs = append(l.reqs, s)
}

func (l *ociLog) matching(sub string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs {
		if strings.Contains(r, sub) {
			out = append(out, r)
		}
	}
	return out
}

// ociRegistry is a registry behind a logging proxy; addr is the proxy's.
func ociRegistry(t *testing.T) (reg *testsrv.Registry, addr string, log *ociLog) {
	t.Helper()
	reg = testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	log = &ociLog{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: reg.Addr})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return reg, strings.TrimPrefix(srv.URL, "http://"), log
}

// ociModel parses a one-model manifest: source u, the recorded sha256 and
// size of data (none when data is nil), and pins.
func ociModel(t *testing.T, u string, data []byte, pins string) *manifest.Model {
	t.Helper()
	text := fmt.Sprintf("version = 1\n[models.m]\npath = \"m.bin\"\nurls = [%q]\n", u)
	if data != nil {
		text += fmt.Sprintf("sha256 = %q\nsize = %d\n", digest.Of(data), len(data))
	}
	if pins != "" {
		text += "pins = " + pins + "\n"
	}
	mf, err := manifest.Parse("t.toml", "/", []byte(text))
	require.NoError(t, err)
	return mf.Models[0]
}

func push(t *testing.T, addr, repoTag string, layout testsrv.Layout, files ...testsrv.ArtifactFile) string {
	t.Helper()
	repo, tag, _ := strings.Cut(repoTag, ":")
	d, err := testsrv.PushArtifact(context.Background(), addr, repo, tag, layout, files, "", "")
	require.NoError(t, err)
	return d
}

func TestOCIRawLayerRangedParallel(t *testing.T) {
	_, addr, log := ociRegistry(t)
	data := randomBytes(3<<20, 7)
	push(t, addr, "acme/models:v1", testsrv.ModelPackRaw, testsrv.ArtifactFile{Path: "w/m.bin", Data: data})
	e := newEnv(t)
	o := e.opts()
	o.Connections, o.ChunkSize = 4, 256<<10
	m := ociModel(t, "oci+http://"+addr+"/acme/models:v1#w/m.bin", data, "")
	r := e.install(t, o, m)
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, filepath.Join(e.root, "m.bin")))
	ranged := log.matching("/blobs/sha256:" + digest.Of(data).String() + " bytes=")
	assert.Greater(t, len(ranged), 4, "the layer is read in ranged chunks: %v", log.reqs)
}

func TestOCIPinIsReadNeverTheTag(t *testing.T) {
	_, addr, log := ociRegistry(t)
	v1, v2 := randomBytes(10_000, 1), randomBytes(10_000, 2)
	d1 := push(t, addr, "acme/models:v1", testsrv.DockerModel, testsrv.ArtifactFile{Path: "m.gguf", Data: v1})
	push(t, addr, "acme/models:v1", testsrv.DockerModel, testsrv.ArtifactFile{Path: "m.gguf", Data: v2}) // the tag moves
	src := "oci+http://" + addr + "/acme/models:v1#m.gguf"
	m := ociModel(t, src, v1, fmt.Sprintf("{ %q = %q }", "oci+http://"+addr+"/acme/models:v1", d1))
	e := newEnv(t)
	o := e.opts()
	o.Cache = nil
	r := e.install(t, o, m)
	require.NoError(t, r.Err)
	assert.Equal(t, v1, readFile(t, filepath.Join(e.root, "m.bin")))
	assert.Empty(t, log.matching("GET /v2/acme/models/manifests/v1"))
	assert.Len(t, log.matching("GET /v2/acme/models/manifests/"+d1), 1)

	// A digest written in the reference needs no pin, and is read as such.
	e = newEnv(t)
	r = e.install(t, o, ociModel(t, "oci+http://"+addr+"/acme/models@"+d1+"#m.gguf", v1, ""))
	require.NoError(t, r.Err)
	assert.Equal(t, v1, readFile(t, filepath.Join(e.root, "m.bin")))
	assert.Len(t, log.matching("GET /v2/acme/models/manifests/"+d1), 2)
	assert.Empty(t, log.matching("GET /v2/acme/models/manifests/v1"))

	// Without the pin, the tag: the recorded sha256 is still enforced.
	e = newEnv(t)
	r = e.install(t, o, ociModel(t, src, v1, ""))
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "models.toml records sha256 "+digest.Of(v1).String())
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindIntegrity, fe.Kind)
}

func TestOCIProbe(t *testing.T) {
	_, addr, log := ociRegistry(t)
	data := randomBytes(20_000, 3)
	f := testsrv.ArtifactFile{Path: "weights/m.bin", Data: data}
	raw := push(t, addr, "acme/raw:v1", testsrv.ModelPackRaw, f)
	kit := push(t, addr, "acme/kit:v1", testsrv.KitOps, f)
	fe := New(newEnv(t).opts())
	for _, tc := range []struct {
		repo, pin string
		download  bool
	}{{"acme/raw", raw, false}, {"acme/kit", kit, true}} {
		log.reqs = nil
		m := ociModel(t, "oci+http://"+addr+"/"+tc.repo+":v1#weights/m.bin", nil, "")
		p, err := fe.Probe(context.Background(), m, m.Sources[0], 1<<20)
		require.NoError(t, err, tc.repo)
		assert.Equal(t, digest.Of(data), p.Installed)
		assert.Equal(t, int64(len(data)), p.InstalledSize)
		pin, err := fe.OCIManifestDigest(context.Background(), m.Sources[0].Ref)
		require.NoError(t, err)
		assert.Equal(t, tc.pin, pin)
		assert.Equal(t, !tc.download, p.Described)
		assert.Equal(t, tc.download, len(log.matching("GET /v2/"+tc.repo+"/blobs/")) > 0, "%v", log.reqs)

		// A bound below the file's size: too large, as a download would find.
		_, err = fe.Probe(context.Background(), m, m.Sources[0], 1000)
		var se *digest.SizeError
		require.ErrorAs(t, err, &se, tc.repo)
		assert.True(t, se.Over)
	}
}

func TestOCICorruptLayer(t *testing.T) {
	reg, addr, _ := ociRegistry(t)
	data := randomBytes(50_000, 4)
	f := testsrv.ArtifactFile{Path: "m.bin", Data: data}
	push(t, addr, "acme/raw:v1", testsrv.ModelPackRaw, f)
	push(t, addr, "acme/tar:v1", testsrv.ModelPackTar, f)
	// Each layer's bytes on the registry's disk, one bit flipped: in the
	// file of the raw layer; in the tar's end blocks, after the entry,
	// which is intact, so only the digest over the whole layer sees it.
	for _, repo := range []string{"acme/raw", "acme/tar"} {
		a, err := oci.Resolve(context.Background(), nil, oci.Ref{Registry: addr, Repository: repo, Reference: "v1", PlainHTTP: true})
		require.NoError(t, err)
		blob := reg.BlobPath(a.Layers[0].Digest.Encoded())
		b, err := os.ReadFile(blob)
		require.NoError(t, err)
		at := 600
		if repo == "acme/tar" {
			at = len(b) - 1
		}
		b[at] ^= 1
		require.NoError(t, os.WriteFile(blob, b, 0o644))
	}
	for _, repo := range []string{"acme/raw", "acme/tar"} {
		e := newEnv(t)
		o := e.opts()
		o.Cache = nil
		r := e.install(t, o, ociModel(t, "oci+http://"+addr+"/"+repo+":v1#m.bin", data, ""))
		require.Error(t, r.Err, repo)
		var fe *Error
		require.ErrorAs(t, r.Err, &fe)
		assert.Equal(t, KindIntegrity, fe.Kind, "%s: %v", repo, r.Err)
		assert.Contains(t, r.Err.Error(), "sha256 mismatch", repo)
		e.assertClean(t)
	}
}

// TestOCITarLayerBomb: a registry whose tar layer claims a 10 GB entry for
// a model of 1 MB. The layer is made as it is read; the fetch fails at the
// entry's header, having read a few KiB.
func TestOCITarLayerBomb(t *testing.T) {
	const huge = 10 << 30
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "m.bin", Mode: 0o644, Size: huge, Typeflag: tar.TypeReg}))
	layerSize := int64(hdr.Len()) + huge
	layerDigest := godigest.FromString("not checked: the fetch stops first")
	var served int64
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/manifests/"):
			body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":"application/vnd.cncf.model.weight.v1.tar","digest":%q,"size":%d,"annotations":{"org.cncf.model.filepath":"m.bin"}}]}`, layerDigest, layerSize)
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			_, _ = io.WriteString(w, body)
		case strings.Contains(r.URL.Path, "/blobs/"):
			w.Header().Set("Content-Length", fmt.Sprint(layerSize))
			n, _ := io.Copy(w, io.MultiReader(bytes.NewReader(hdr.Bytes()), io.LimitReader(zeros{}, huge)))
			mu.Lock()
			served += n
			mu.Unlock()
		}
	}))
	defer srv.Close()
	e := newEnv(t)
	o := e.opts()
	o.Cache = nil
	m := ociModel(t, "oci+http://"+strings.TrimPrefix(srv.URL, "http://")+"/acme/bomb:v1#m.bin", randomBytes(1<<20, 5), "")
	start := time.Now()
	r := e.install(t, o, m)
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), `the tar entry "m.bin" is 10737418240 bytes; models.toml declares 1048576`)
	assert.Less(t, time.Since(start), 10*time.Second)
	srv.CloseClientConnections()
	e.assertClean(t)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestOCIStorageRedirectGetsNoCredentials: the registry's credentials go to
// the registry only; its storage redirect gets neither them nor a Referer.
func TestOCIStorageRedirectGetsNoCredentials(t *testing.T) {
	data := randomBytes(5_000, 6)
	d := godigest.FromBytes(data)
	var storageHeaders http.Header
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storageHeaders = r.Header.Clone()
		_, _ = w.Write(data)
	}))
	defer storage.Close()
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case strings.Contains(r.URL.Path, "/manifests/"):
			body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":"application/vnd.cncf.model.weight.v1.raw","digest":%q,"size":%d,"annotations":{"org.cncf.model.filepath":"m.bin"}}]}`, d, len(data))
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			_, _ = io.WriteString(w, body)
		case strings.Contains(r.URL.Path, "/blobs/"):
			http.Redirect(w, r, storage.URL+"/signed?sig=secret", http.StatusTemporaryRedirect)
		}
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	cred := func(context.Context, string) (auth.Credential, error) {
		return auth.Credential{Username: "alice", Password: "pw"}, nil
	}
	client := NewClient(nil, nil, 5*time.Second)
	client.Transport = mirror.Transport(client.Transport, []mirror.Mirror{{Kind: mirror.OCI, Registry: host, PlainHTTP: true}}, cred)
	e := newEnv(t)
	o := e.opts()
	o.Client, o.Cache = client, nil
	r := e.install(t, o, ociModel(t, "oci+http://"+host+"/acme/models:v1#m.bin", data, ""))
	require.NoError(t, r.Err)
	require.NotNil(t, storageHeaders)
	assert.Empty(t, storageHeaders.Get("Authorization"))
	assert.Empty(t, storageHeaders.Get("Referer"))
}

// TestOCIAnonymousPullToken: a public registry's anonymous token flow (as
// Docker Hub's auth.docker.io and ghcr.io's): a 401 with a Bearer
// challenge, a token asked for without credentials, then the manifest and
// the blob with it; one token for the repository, for both.
func TestOCIAnonymousPullToken(t *testing.T) {
	data := randomBytes(5_000, 8)
	d := godigest.FromBytes(data)
	var tokens []string
	var mu sync.Mutex
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens = append(tokens, r.URL.Query().Get("scope")+" auth="+r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = io.WriteString(w, `{"token":"anon-token"}`)
	}))
	defer tokenSrv.Close()
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer anon-token" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="registry.test",scope="repository:library/smollm:pull"`, tokenSrv.URL+"/token"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case strings.Contains(r.URL.Path, "/manifests/"):
			body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":"application/vnd.docker.ai.gguf.v3","digest":%q,"size":%d,"annotations":{"org.cncf.model.filepath":"model.gguf"}}]}`, d, len(data))
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			_, _ = io.WriteString(w, body)
		case strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()):
			_, _ = w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	client := NewClient(nil, nil, 5*time.Second)
	client.Transport = mirror.Transport(client.Transport, []mirror.Mirror{{Kind: mirror.OCI, Registry: host, PlainHTTP: true}}, nil)
	e := newEnv(t)
	o := e.opts()
	o.Client, o.Cache = client, nil
	r := e.install(t, o, ociModel(t, "oci+http://"+host+"/library/smollm:v1#model.gguf", data, ""))
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, filepath.Join(e.root, "m.bin")))
	assert.Equal(t, []string{"repository:library/smollm:pull auth="}, tokens, "one anonymous token for the repository")
}

// TestOCISlowManifest: a registry that sends a manifest's headers and then
// nothing is given up at the manifest's deadline, a try at a time.
func TestOCISlowManifest(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, `{"schemaVersion":2,`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	e := newEnv(t)
	o := e.opts()
	o.Cache, o.Retries, o.IdleTimeout = nil, 1, 100*time.Millisecond
	start := time.Now()
	r := e.install(t, o, ociModel(t, "oci+http://"+strings.TrimPrefix(srv.URL, "http://")+"/acme/m:v1#m.bin", []byte("x"), ""))
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "the registry did not send the manifest within 400ms")
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestOCIManifestDigestReadsTheTag: what lock pins is what the tag names
// now, whatever the source's pin; an index is refused with its children.
func TestOCIManifestDigestReadsTheTag(t *testing.T) {
	_, addr, _ := ociRegistry(t)
	f1 := testsrv.ArtifactFile{Path: "m.bin", Data: []byte("one")}
	push(t, addr, "acme/m:v1", testsrv.ModelPackRaw, f1)
	d2 := push(t, addr, "acme/m:v1", testsrv.ModelPackRaw, testsrv.ArtifactFile{Path: "m.bin", Data: []byte("two")})
	push(t, addr, "acme/m:amd64", testsrv.ModelPackRaw, f1)
	idx, err := testsrv.PushIndex(context.Background(), addr, "acme/m", "multi", "amd64")
	require.NoError(t, err)
	require.NotEmpty(t, idx)
	fe := New(newEnv(t).opts())
	m := ociModel(t, "oci+http://"+addr+"/acme/m:v1#m.bin", nil, "")
	m.Sources[0].Ref.Pin = "sha256:" + strings.Repeat("0", 64)
	got, err := fe.OCIManifestDigest(context.Background(), m.Sources[0].Ref)
	require.NoError(t, err)
	assert.Equal(t, d2, got)
	m = ociModel(t, "oci+http://"+addr+"/acme/m:multi#m.bin", nil, "")
	_, err = fe.OCIManifestDigest(context.Background(), m.Sources[0].Ref)
	var ie *oci.IndexError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, 1, ie.Total)
}
