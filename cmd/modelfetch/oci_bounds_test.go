package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	godigest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileRegistry serves, by repository: a manifest over 4 MiB, one with
// 100,000 layers, an HTML page, a tar layer whose entry claims 10 GB, and a
// tar+gzip layer holding 512 MiB of zeros before the file asked for.
type hostileRegistry struct {
	manifests map[string][]byte // repository -> manifest
	blobs     map[string]func(w io.Writer)
}

func (h *hostileRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v2/")
	switch {
	case strings.Contains(rest, "/manifests/"):
		repo, _, _ := strings.Cut(rest, "/manifests/")
		body, ok := h.manifests[repo]
		if !ok {
			http.NotFound(w, r)
			return
		}
		ct := "application/vnd.oci.image.manifest.v1+json"
		if repo == "html" {
			ct = "text/html"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	case strings.Contains(rest, "/blobs/"):
		_, d, _ := strings.Cut(rest, "/blobs/")
		if serve, ok := h.blobs[d]; ok {
			serve(w)
			return
		}
		http.NotFound(w, r)
	}
}

func tarManifest(mediaType string, d godigest.Digest, size int64) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":%q,"digest":%q,"size":%d,"annotations":{"org.cncf.model.filepath":"m.bin"}}]}`, mediaType, d, size)
}

// paddedLayer is a tar+gzip of 512 MiB of zeros and then m.bin.
func paddedLayer(t *testing.T, file []byte) []byte {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	require.NoError(t, err)
	tw := tar.NewWriter(zw)
	const pad = 512 << 20
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "pad.bin", Mode: 0o644, Size: pad, Typeflag: tar.TypeReg}))
	zeros := make([]byte, 1<<20)
	for range pad / len(zeros) {
		_, err := tw.Write(zeros)
		require.NoError(t, err)
	}
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "m.bin", Mode: 0o644, Size: int64(len(file)), Typeflag: tar.TypeReg}))
	_, err = tw.Write(file)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func newHostileRegistry(t *testing.T, file []byte) *httptest.Server {
	h := &hostileRegistry{manifests: map[string][]byte{}, blobs: map[string]func(io.Writer){}}
	h.manifests["big"] = append([]byte(`{"schemaVersion":2,"x":"`), append(bytes.Repeat([]byte("x"), 5<<20), `"}`...)...)
	h.manifests["layers"] = append([]byte(`{"schemaVersion":2,"layers":[{}`), append(bytes.Repeat([]byte(",{}"), 99999), "]}"...)...)
	h.manifests["html"] = []byte("<!doctype html><html><body>Sign in</body></html>")

	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "m.bin", Mode: 0o644, Size: 10 << 30, Typeflag: tar.TypeReg}))
	bombDigest := godigest.FromString("never reached")
	h.manifests["bomb"] = tarManifest("application/vnd.cncf.model.weight.v1.tar", bombDigest, int64(hdr.Len())+10<<30)
	h.blobs[bombDigest.String()] = func(w io.Writer) {
		_, _ = w.Write(hdr.Bytes())
		_, _ = io.CopyN(w, zeroReader{}, 10<<30)
	}

	padded := paddedLayer(t, file)
	pd := godigest.FromBytes(padded)
	h.manifests["padded"] = tarManifest("application/vnd.kitops.modelkit.model.v1.tar+gzip", pd, int64(len(padded)))
	h.blobs[pd.String()] = func(w io.Writer) { _, _ = w.Write(padded) }
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestHostileRegistryStaysUnder256MiB runs the binary against a registry
// that sends every hostile thing issue 23 names, five models at once, and
// reads its peak RSS: each bad one is one line, and the layer with 512 MiB
// to throw away before its file installs that file.
func TestHostileRegistryStaysUnder256MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 512 MiB")
	}
	if _, err := exec.LookPath("/usr/bin/time"); err != nil {
		t.Skip("/usr/bin/time not installed (.ci/run installs it)")
	}
	file := bytes.Repeat([]byte("the weights "), 1<<17)
	srv := newHostileRegistry(t, file)
	host := strings.TrimPrefix(srv.URL, "http://")
	sum := sha256.Sum256(file)
	dir := t.TempDir()
	var m strings.Builder
	m.WriteString("version = 1\n[dirs]\nmodels = \"out\"\n")
	for _, repo := range []string{"big", "layers", "html", "bomb", "padded"} {
		fmt.Fprintf(&m, "[models.%s]\npath = %q\nsha256 = %q\nsize = %d\nurls = [\"oci+http://%s/%s:v1#m.bin\"]\n",
			repo, repo, hex.EncodeToString(sum[:]), len(file), host, repo)
	}
	manifestPath := filepath.Join(dir, "models.toml")
	require.NoError(t, os.WriteFile(manifestPath, []byte(m.String()), 0o644))

	bin := filepath.Join(t.TempDir(), "modelfetch")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	rssFile := filepath.Join(dir, "rss")
	cmd := exec.Command("/usr/bin/time", "-o", rssFile, "-f", "%M",
		bin, "-m", manifestPath, "--no-cache", "--progress", "none", "--jobs", "5", "--retries", "0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	assert.Equal(t, 3, ee.ExitCode(), "the 10 GB entry is an integrity failure: %s", stderr.String())
	for _, want := range []string{
		"big: oci+http://" + host + "/big:v1: the manifest is larger than 4 MiB",
		"layers: oci+http://" + host + "/layers:v1: the manifest claims 100000 layers; at most 10000 are read",
		"html: oci+http://" + host + "/html:v1: the registry answered with text/html, not an image manifest",
		`bomb: oci+http://` + host + `/bomb:v1: the tar entry "m.bin" is 10737418240 bytes; models.toml declares 1572864`,
	} {
		assert.Contains(t, stderr.String(), "modelfetch: error: "+want)
	}
	got, err := os.ReadFile(filepath.Join(dir, "out", "padded"))
	require.NoError(t, err, stderr.String())
	assert.Equal(t, file, got)
	raw, err := os.ReadFile(rssFile)
	require.NoError(t, err)
	lines := strings.Fields(string(raw))
	require.NotEmpty(t, lines)
	kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	require.NoError(t, err, "%s", raw)
	t.Logf("peak RSS %d MiB", kb>>10)
	assert.Less(t, kb<<10, int64(256<<20), "peak RSS")
}
