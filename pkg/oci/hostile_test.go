package oci_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/oci"
)

// fakeRegistry answers every manifest GET with body under contentType.
func fakeRegistry(t *testing.T, contentType string, body func() []byte) oci.Ref {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		b := body()
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(b)
		}
	}))
	t.Cleanup(srv.Close)
	return oci.Ref{Registry: strings.TrimPrefix(srv.URL, "http://"), Repository: "acme/models", Reference: "v1", PlainHTTP: true}
}

func layersJSON(n int, layer string) []byte {
	var b strings.Builder
	b.WriteString(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(layer)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

func TestHostileManifests(t *testing.T) {
	d1, d2 := godigest.FromString("one"), godigest.FromString("two")
	twoClaims := fmt.Sprintf(`{"schemaVersion":2,"layers":[
		{"mediaType":"application/vnd.cncf.model.weight.v1.raw","digest":%q,"size":3,"annotations":{"org.cncf.model.filepath":"model.bin"}},
		{"mediaType":"application/vnd.cncf.model.weight.v1.raw","digest":%q,"size":3,"annotations":{"org.opencontainers.image.title":"./model.bin"}}]}`, d1, d2)
	index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
		{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":10,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
		{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":10}]}`, d1, d2)
	for _, tc := range []struct {
		name, contentType string
		body              func() []byte
		want              string
		resolveOK         bool // the error comes from File
	}{
		{name: "over 4 MiB", contentType: ocispec.MediaTypeImageManifest,
			body: func() []byte { return layersJSON(1, `"`+strings.Repeat("x", 5<<20)+`"`) },
			want: "the manifest is larger than 4 MiB"},
		{name: "100000 layers", contentType: ocispec.MediaTypeImageManifest,
			body: func() []byte { return layersJSON(100000, "{}") },
			want: "the manifest claims 100000 layers; at most 10000 are read"},
		{name: "html", contentType: "text/html; charset=utf-8",
			body: func() []byte { return []byte("<!doctype html><html><body>Sign in</body></html>") },
			want: "the registry answered with text/html, not an image manifest"},
		{name: "not json", contentType: ocispec.MediaTypeImageManifest,
			body: func() []byte { return []byte("{not json") },
			want: "the manifest is not valid JSON"},
		{name: "index", contentType: ocispec.MediaTypeImageIndex,
			body: func() []byte { return []byte(index) },
			want: "an index of 2 manifests, not one model; name one by digest: @" + d1.String() + " (linux/arm64/v8), @" + d2.String()},
		{name: "two layers claim the path", contentType: ocispec.MediaTypeImageManifest,
			body: func() []byte { return []byte(twoClaims) }, resolveOK: true,
			want: "layers " + d1.String() + " and " + d2.String() + ` both claim "model.bin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := fakeRegistry(t, tc.contentType, tc.body)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a, err := oci.Resolve(ctx, nil, ref)
			if tc.resolveOK {
				require.NoError(t, err)
				_, err = a.File("model.bin")
				var ie *oci.IntegrityError
				require.ErrorAs(t, err, &ie)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
			assert.Less(t, len(err.Error()), 400)
			if !tc.resolveOK {
				var p interface{ Permanent() bool }
				assert.True(t, errors.As(err, &p) && p.Permanent(), "%T", err)
			}
		})
	}
}

func TestLayerKinds(t *testing.T) {
	for _, tc := range []struct {
		mediaType   string
		annotations map[string]string
		tar         bool
		refused     bool
	}{
		{mediaType: "application/vnd.cncf.model.weight.v1.raw"},
		{mediaType: "application/vnd.docker.ai.gguf.v3"},
		{mediaType: "application/octet-stream"},
		{mediaType: ocispec.MediaTypeImageLayer}, // oras push of one file
		{mediaType: ocispec.MediaTypeImageLayerGzip, tar: true},
		{mediaType: ocispec.MediaTypeImageLayer, annotations: map[string]string{"io.deis.oras.content.unpack": "true"}, tar: true},
		{mediaType: "application/vnd.cncf.model.weight.v1.tar", tar: true},
		{mediaType: "application/vnd.cncf.model.weight.v1.tar+zstd", tar: true},
		{mediaType: "application/vnd.kitops.modelkit.model.v1.tar+gzip", tar: true},
		{mediaType: "application/vnd.example.model+gzip", refused: true},
	} {
		t.Run(tc.mediaType, func(t *testing.T) {
			ann := map[string]string{"org.cncf.model.filepath": "model.bin"}
			for k, v := range tc.annotations {
				ann[k] = v
			}
			a := &oci.Artifact{Layers: []ocispec.Descriptor{{MediaType: tc.mediaType, Digest: godigest.FromString("x"), Size: 1, Annotations: ann}}}
			l, err := a.File("model.bin")
			if tc.refused {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.tar, l.Tar)
		})
	}
}

func TestFolderLayer(t *testing.T) {
	a := &oci.Artifact{Layers: []ocispec.Descriptor{
		{MediaType: "application/vnd.kitops.modelkit.model.v1.tar+gzip", Digest: godigest.FromString("a"), Annotations: map[string]string{"org.opencontainers.image.title": "weights/"}},
		{MediaType: "application/vnd.kitops.modelkit.model.v1.tar+gzip", Digest: godigest.FromString("b"), Annotations: map[string]string{"org.opencontainers.image.title": "weights/fp16"}},
		{MediaType: "application/vnd.cncf.model.weight.v1.raw", Digest: godigest.FromString("c"), Annotations: map[string]string{"org.cncf.model.filepath": "weights"}},
	}}
	l, err := a.File("weights/fp16/model.bin")
	require.NoError(t, err)
	assert.Equal(t, godigest.FromString("b"), l.Desc.Digest, "the innermost folder")
	assert.Equal(t, "weights/fp16/model.bin", l.Entry)
	l, err = a.File("weights/model.bin")
	require.NoError(t, err)
	assert.Equal(t, godigest.FromString("a"), l.Desc.Digest)
}

// TestChunkedManifestWithoutType: a manifest sent without a length (oras
// then asks with HEAD) and without a content type: one line, no URL.
func TestChunkedManifestWithoutType(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, "<html>")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "</html>")
		}
	}))
	defer srv.Close()
	ref := oci.Ref{Registry: strings.TrimPrefix(srv.URL, "http://"), Repository: "acme/models", Reference: "v1", PlainHTTP: true}
	_, err := oci.Resolve(context.Background(), nil, ref)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "http://")
	assert.NotContains(t, err.Error(), "\n")
	var me *oci.ManifestError
	assert.ErrorAs(t, err, &me)
}
