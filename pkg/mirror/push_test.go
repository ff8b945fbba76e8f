package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testsrv"
	"github.com/djok/modelfetch/internal/testutil"
	"github.com/djok/modelfetch/pkg/digest"
)

// data is n reproducible pseudo-random bytes.
func data(seed uint64, n int) []byte { return testutil.RandomBytes(n, seed) }

// blob is a Blob over b, installed at path.
func blob(name, path string, b []byte) Blob {
	return Blob{Name: name, Path: path, Digest: digest.Of(b), Size: int64(len(b)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// front is a counting reverse proxy in front of a registry: requests keep
// the front's Host, so the registry's upload locations point back at it.
type front struct {
	*httptest.Server
	mu       sync.Mutex
	requests map[string]int // "METHOD" and "METHOD kind" (blob, upload, manifest, mount)
	inflight int            // uploads (PUT) under way
	maxPuts  int
	gate     func(w http.ResponseWriter, r *http.Request) bool // false: answered here
}

func newFront(t *testing.T, reg *testsrv.Registry) *front {
	target, err := url.Parse("http://" + reg.Addr)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	f := &front{requests: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.gate != nil && !f.gate(w, r) {
			return
		}
		kind := "other"
		switch {
		case r.URL.Query().Has("mount"):
			kind = "mount"
		case strings.Contains(r.URL.Path, "/blobs/uploads/"):
			kind = "upload"
		case strings.Contains(r.URL.Path, "/blobs/"):
			kind = "blob"
		case strings.Contains(r.URL.Path, "/manifests/"):
			kind = "manifest"
		}
		f.mu.Lock()
		f.requests[r.Method]++
		f.requests[r.Method+" "+kind]++
		if r.Method == http.MethodPut && kind == "upload" {
			f.inflight++
			f.maxPuts = max(f.maxPuts, f.inflight)
		}
		f.mu.Unlock()
		proxy.ServeHTTP(w, r)
		if r.Method == http.MethodPut && kind == "upload" {
			f.mu.Lock()
			f.inflight--
			f.mu.Unlock()
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *front) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[key]
}

func (f *front) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = map[string]int{}
}

func (f *front) host() string { return strings.TrimPrefix(f.URL, "http://") }

// mirrorAt parses oci+http://HOST/REPO.
func mirrorAt(t *testing.T, host, repo string) Mirror {
	m, err := Parse("oci+http://" + host + "/" + repo)
	require.NoError(t, err)
	return m
}

// get reads a registry URL path (anonymous registries only).
func get(t *testing.T, host, path string, accept string) (int, []byte, http.Header) {
	req, err := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	require.NoError(t, err)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b, resp.Header
}

func statuses(r *PushReport) []BlobStatus {
	var s []BlobStatus
	for _, b := range r.Blobs {
		s = append(s, b.Status)
	}
	return s
}

func noRetry() *http.Client { return &http.Client{} }

func TestPushReadBack(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	f := newFront(t, reg)
	files := map[string][]byte{
		"shape_predictor_68.dat":   data(1, 300<<10),
		"face/detector.onnx":       data(2, 200<<10),
		"face/recognition_v1.dat":  data(3, 120<<10),
		"vision/classifier.tflite": data(4, 1),
		"vision/labels.txt":        []byte("cat\ndog\n"),
	}
	var blobs []Blob
	for p, b := range files {
		blobs = append(blobs, blob("m-"+p, p, b))
	}
	m := mirrorAt(t, f.host(), "team/models:v1")
	var observed []string
	rep, err := Push(context.Background(), m, blobs, PushOptions{Client: noRetry(), Title: "models.toml",
		Observer: func(r BlobResult) { observed = append(observed, r.Blob.Path) }})
	require.NoError(t, err)
	assert.Equal(t, f.host()+"/team/models:v1", rep.Reference)
	assert.False(t, rep.ManifestExisted)
	assert.ElementsMatch(t, []BlobStatus{BlobUploaded, BlobUploaded, BlobUploaded, BlobUploaded, BlobUploaded}, statuses(rep))
	assert.Len(t, observed, len(files))
	assert.LessOrEqual(t, f.maxPuts, pushConcurrency, "blobs are pushed a few at a time")

	for p, b := range files {
		code, got, _ := get(t, reg.Addr, "/v2/team/models/blobs/sha256:"+digest.Of(b).String(), "")
		require.Equal(t, http.StatusOK, code, p)
		assert.True(t, bytes.Equal(b, got), "bytes of %s", p)
	}

	code, raw, hdr := get(t, reg.Addr, "/v2/team/models/manifests/v1", ocispec.MediaTypeImageManifest)
	require.Equal(t, http.StatusOK, code, string(raw))
	assert.Equal(t, "sha256:"+rep.Manifest.String(), hdr.Get("Docker-Content-Digest"))
	assert.Equal(t, rep.Manifest, digest.Of(raw))
	var man ocispec.Manifest
	require.NoError(t, json.Unmarshal(raw, &man))
	assert.Equal(t, 2, man.SchemaVersion)
	assert.Equal(t, ocispec.MediaTypeImageManifest, man.MediaType)
	assert.Equal(t, "application/vnd.cncf.model.manifest.v1+json", man.ArtifactType)
	assert.Equal(t, "application/vnd.cncf.model.config.v1+json", man.Config.MediaType)
	assert.Equal(t, "models.toml", man.Annotations[ocispec.AnnotationTitle])
	assert.Equal(t, "1970-01-01T00:00:00Z", man.Annotations[ocispec.AnnotationCreated])
	wantPaths := []string{"face/detector.onnx", "face/recognition_v1.dat", "shape_predictor_68.dat", "vision/classifier.tflite", "vision/labels.txt"}
	require.Len(t, man.Layers, len(wantPaths))
	var diffIDs []string
	for i, l := range man.Layers {
		p := wantPaths[i]
		assert.Equal(t, "application/vnd.cncf.model.weight.v1.raw", l.MediaType, p)
		assert.Equal(t, "sha256:"+digest.Of(files[p]).String(), l.Digest.String(), p)
		assert.Equal(t, int64(len(files[p])), l.Size, p)
		assert.Equal(t, p, l.Annotations["org.cncf.model.filepath"])
		assert.Equal(t, p[strings.LastIndex(p, "/")+1:], l.Annotations[ocispec.AnnotationTitle])
		diffIDs = append(diffIDs, l.Digest.String())
	}

	code, raw, _ = get(t, reg.Addr, "/v2/team/models/blobs/"+man.Config.Digest.String(), "")
	require.Equal(t, http.StatusOK, code)
	var config map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &config))
	assert.ElementsMatch(t, []string{"descriptor", "modelfs", "config"}, keys(config), "the ModelPack config schema allows no other keys")
	assert.JSONEq(t, `{"name":"models.toml"}`, string(config["descriptor"]))
	var fs struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diffIds"`
	}
	require.NoError(t, json.Unmarshal(config["modelfs"], &fs))
	assert.Equal(t, "layers", fs.Type)
	assert.Equal(t, diffIDs, fs.DiffIDs)
}

func keys(m map[string]json.RawMessage) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

func TestPushTwiceUploadsNothing(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	f := newFront(t, reg)
	blobs := []Blob{
		blob("a", "a.dat", data(10, 100<<10)),
		blob("b", "sub/b.onnx", data(11, 50<<10)),
		blob("c", "c.bin", data(12, 10)),
	}
	m := mirrorAt(t, f.host(), "models")
	first, err := Push(context.Background(), m, blobs, PushOptions{Client: noRetry()})
	require.NoError(t, err)
	assert.Equal(t, f.host()+"/models:"+DefaultTag(blobs), first.Reference)
	assert.Regexp(t, `^models-[0-9a-f]{16}$`, DefaultTag(blobs))
	assert.NotEqual(t, DefaultTag(blobs[:2]), DefaultTag(blobs), "another set of files, another tag")
	assert.Positive(t, f.count("PUT"))

	f.reset()
	reversed := []Blob{blobs[2], blobs[1], blobs[0]}
	second, err := Push(context.Background(), m, reversed, PushOptions{Client: noRetry()})
	require.NoError(t, err)
	assert.Equal(t, []BlobStatus{BlobPresent, BlobPresent, BlobPresent}, statuses(second))
	assert.True(t, second.ManifestExisted)
	assert.Equal(t, first.Manifest, second.Manifest, "the same files make the same manifest, whatever their order")
	assert.Zero(t, f.count("PUT")+f.count("POST")+f.count("PATCH")+f.count("DELETE"), "no upload, no manifest rewrite")
	assert.Zero(t, f.count("GET blob"), "a present blob is not downloaded either")
}

// A file that changed on disk since models.toml recorded it is not pushed,
// under its recorded digest or any other, and no manifest is tagged.
func TestPushChangedFile(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	good := blob("good", "good.dat", data(30, 80<<10))
	recorded := data(31, 80<<10)
	changed := data(32, 80<<10) // same size, other bytes
	sameSize := blob("edited", "edited.dat", recorded)
	sameSize.Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(changed)), nil }
	grown := blob("grown", "grown.dat", data(34, 40<<10))
	grownBytes := data(35, 60<<10)
	grown.Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(grownBytes)), nil }
	// Appended to: the first Size bytes are still the recorded ones.
	appended := blob("appended", "appended.dat", recorded[:40<<10])
	appended.Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(recorded)), nil }
	unreadable := blob("gone", "gone.dat", data(33, 10))
	unreadable.Open = func() (io.ReadCloser, error) { return nil, os.ErrNotExist }

	m := mirrorAt(t, reg.Addr, "models")
	rep, err := Push(context.Background(), m, []Blob{good, sameSize, grown, unreadable, appended}, PushOptions{Client: noRetry()})
	require.Error(t, err)
	require.NotNil(t, rep, "the report says which files failed")
	t.Log(err)
	assert.NotContains(t, err.Error(), "\n")
	assert.Contains(t, err.Error(), "4 of 5 files not pushed")
	assert.Equal(t, []BlobStatus{BlobUploaded, BlobFailed, BlobFailed, BlobFailed, BlobFailed}, statuses(rep))
	for _, i := range []int{1, 2, 4} {
		assert.True(t, digest.IsIntegrity(rep.Blobs[i].Err), "%v", rep.Blobs[i].Err)
	}
	assert.ErrorIs(t, rep.Blobs[3].Err, os.ErrNotExist)
	for _, b := range [][]byte{recorded, changed, data(34, 40<<10), grownBytes, grownBytes[:40<<10]} {
		assert.NoFileExists(t, reg.BlobPath(digest.Of(b).String()))
		code, _, _ := get(t, reg.Addr, "/v2/models/blobs/sha256:"+digest.Of(b).String(), "")
		assert.Equal(t, http.StatusNotFound, code)
	}
	// The appended file's first bytes may have reached the registry whole
	// before the client saw the excess; the registry checks the digest, so
	// what it holds under that digest can only be the recorded bytes.
	if b, err := os.ReadFile(reg.BlobPath(appended.Digest.String())); err == nil {
		assert.True(t, bytes.Equal(recorded[:40<<10], b))
	}

	// No manifest: one that left files out would move the tag off blobs an
	// earlier manifest listed.
	all := []Blob{good, sameSize, grown, unreadable, appended}
	code, _, _ := get(t, reg.Addr, "/v2/models/manifests/"+DefaultTag(all), ocispec.MediaTypeImageManifest)
	assert.Equal(t, http.StatusNotFound, code)

	// A tag that lists the good file stays as it is when a later push to
	// it fails.
	kept := mirrorAt(t, reg.Addr, "models:kept")
	rep, err = Push(context.Background(), kept, []Blob{good}, PushOptions{Client: noRetry()})
	require.NoError(t, err)
	before := rep.Manifest
	_, err = Push(context.Background(), kept, []Blob{good, sameSize}, PushOptions{Client: noRetry()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 of 2 files not pushed, so the tag was left as it was")
	_, raw, _ := get(t, reg.Addr, "/v2/models/manifests/kept", ocispec.MediaTypeImageManifest)
	assert.Equal(t, before, digest.Of(raw))

	// An incomplete set (the caller has no file for some models): the blobs
	// go up, the tag stays.
	rep, err = Push(context.Background(), kept, []Blob{blob("new", "new.dat", data(36, 1000))}, PushOptions{Client: noRetry(), Incomplete: true})
	require.NoError(t, err)
	assert.True(t, rep.Manifest.IsZero())
	assert.Equal(t, []BlobStatus{BlobUploaded}, statuses(rep))
	_, raw, _ = get(t, reg.Addr, "/v2/models/manifests/kept", ocispec.MediaTypeImageManifest)
	assert.Equal(t, before, digest.Of(raw))

	// Nothing at all pushable: an error and no manifest.
	rep, err = Push(context.Background(), mirrorAt(t, reg.Addr, "empty"), []Blob{sameSize}, PushOptions{Client: noRetry()})
	require.Error(t, err)
	require.NotNil(t, rep)
	assert.Equal(t, 1, rep.Failed())
	assert.True(t, digest.IsIntegrity(err))
	code, _, _ = get(t, reg.Addr, "/v2/empty/manifests/"+DefaultTag([]Blob{sameSize}), ocispec.MediaTypeImageManifest)
	assert.Equal(t, http.StatusNotFound, code)
}

func TestPushMountsFromOtherRepository(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	f := newFront(t, reg)
	shared := []Blob{blob("a", "a.dat", data(40, 100<<10)), blob("b", "b.dat", data(41, 30<<10))}
	_, err := Push(context.Background(), mirrorAt(t, f.host(), "team/base"), shared, PushOptions{Client: noRetry()})
	require.NoError(t, err)

	f.reset()
	fresh := blob("c", "c.dat", data(42, 20<<10))
	rep, err := Push(context.Background(), mirrorAt(t, f.host(), "team/app"), append(shared, fresh),
		PushOptions{Client: noRetry(), MountFrom: []string{"team/none", "team/base"}})
	require.NoError(t, err)
	assert.Equal(t, []BlobStatus{BlobMounted, BlobMounted, BlobUploaded}, statuses(rep))
	assert.Equal(t, 2, f.count("POST mount"))
	assert.Equal(t, 2, f.count("PUT upload"), "only the new file and the config are uploaded")
	for _, b := range append(shared, fresh) {
		code, _, _ := get(t, reg.Addr, "/v2/team/app/blobs/sha256:"+b.Digest.String(), "")
		assert.Equal(t, http.StatusOK, code, b.Path)
	}

	// A registry that does not mount answers the mount request by opening
	// an ordinary upload (202), which the file's bytes then complete.
	f.gate = func(w http.ResponseWriter, r *http.Request) bool {
		q := r.URL.Query()
		q.Del("mount")
		q.Del("from")
		r.URL.RawQuery = q.Encode()
		return true
	}
	f.reset()
	rep, err = Push(context.Background(), mirrorAt(t, f.host(), "team/nomount"), shared,
		PushOptions{Client: noRetry(), MountFrom: []string{"team/base"}})
	require.NoError(t, err)
	assert.Equal(t, []BlobStatus{BlobUploaded, BlobUploaded}, statuses(rep))
	assert.Equal(t, 3, f.count("POST"), "each file's upload goes on in the session its mount request opened (plus the config's)")
	for _, b := range shared {
		code, _, _ := get(t, reg.Addr, "/v2/team/nomount/blobs/sha256:"+b.Digest.String(), "")
		assert.Equal(t, http.StatusOK, code, b.Path)
	}
}
