package fetch

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	godigest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
)

// bombRegistry serves one tar layer whose first header claims a 10 GiB
// m.bin, its data made as it is read; served counts the layer bytes sent.
func bombRegistry(t *testing.T) (host string, served *atomic.Int64) {
	const huge = 10 << 30
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "m.bin", Mode: 0o644, Size: huge, Typeflag: tar.TypeReg}))
	layerSize := int64(hdr.Len()) + huge
	layerDigest := godigest.FromString("not checked: the read stops first")
	served = new(atomic.Int64)
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
			served.Add(n)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections)
	return strings.TrimPrefix(srv.URL, "http://"), served
}

// TestOCIProbeTarEntryOverLimit: lock's probe of a model with no size
// holds a tar entry's header to its bound (--max-size) before reading the
// entry's data, rather than streaming the bound's worth first.
func TestOCIProbeTarEntryOverLimit(t *testing.T) {
	host, served := bombRegistry(t)
	e := newEnv(t)
	o := e.opts()
	o.Cache = nil
	m := ociModel(t, "oci+http://"+host+"/acme/bomb:v1#m.bin", nil, "")
	start := time.Now()
	_, err := New(o).Probe(context.Background(), m, m.Sources[0], 64<<20)
	require.Error(t, err)
	var se *digest.SizeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, int64(10<<30), se.Got)
	assert.Equal(t, int64(64<<20), se.Want)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Less(t, served.Load(), int64(32<<20), "the entry's data was streamed")
}
