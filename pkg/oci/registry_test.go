package oci_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	godigest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/internal/testsrv"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/mirror"
	"github.com/djok/modelfetch/pkg/oci"
)

var files = []testsrv.ArtifactFile{
	{Path: "codeformer/codeformer.pth", Data: bytes.Repeat([]byte("codeformer weights "), 1000)},
	{Path: "codeformer/LICENSE", Data: []byte("license text\n")},
	{Path: "gfpgan.pth", Data: []byte("gfpgan weights")},
}

// client is an http.Client that speaks to reg as modelfetch does: through
// mirror.Transport, with cred (nil: anonymous).
func client(reg *testsrv.Registry, cred auth.CredentialFunc) *http.Client {
	m := mirror.Mirror{Kind: mirror.OCI, Registry: reg.Addr, PlainHTTP: true}
	return &http.Client{Transport: mirror.Transport(http.DefaultTransport, []mirror.Mirror{m}, cred)}
}

// readFile reads one file of ref as fetch does: the blob for a raw layer,
// the extracted entry for a tar layer.
func readFile(t *testing.T, c *http.Client, ref oci.Ref, p string) ([]byte, oci.Layer) {
	t.Helper()
	ctx := context.Background()
	a, err := oci.Resolve(ctx, c, ref)
	require.NoError(t, err)
	l, err := a.File(p)
	require.NoError(t, err)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ref.BlobURL(l.Desc.Digest).String(), nil)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var r io.Reader = resp.Body
	if l.Tar {
		x, err := oci.Extract(resp.Body, ref, l, -1)
		require.NoError(t, err)
		defer x.Close()
		r = x
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b, l
}

func TestLayouts(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	c := client(reg, nil)
	for _, tc := range []struct {
		name   string
		layout testsrv.Layout
		tar    bool
	}{
		{"modelpack-raw", testsrv.ModelPackRaw, false},
		{"modelpack-tar", testsrv.ModelPackTar, true},
		{"kitops", testsrv.KitOps, true},
		{"docker-model", testsrv.DockerModel, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := testsrv.PushArtifact(context.Background(), reg.Addr, "models/"+tc.name, "v1", tc.layout, files, "", "")
			require.NoError(t, err)
			for _, f := range files {
				got, l := readFile(t, c, oci.Ref{Registry: reg.Addr, Repository: "models/" + tc.name, Reference: "v1", PlainHTTP: true}, f.Path)
				assert.Equal(t, f.Data, got, f.Path)
				assert.Equal(t, tc.tar, l.Tar)
				if !tc.tar {
					assert.Equal(t, godigest.FromBytes(f.Data), l.Desc.Digest, "a raw layer's digest is the file's")
				}
			}
			// By digest: the same artifact.
			a, err := oci.Resolve(context.Background(), c, oci.Ref{Registry: reg.Addr, Repository: "models/" + tc.name, Reference: d, PlainHTTP: true})
			require.NoError(t, err)
			assert.Equal(t, d, a.Digest.String())
		})
	}
}

func TestMirrorPushReadBack(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	m, err := mirror.Parse("oci+http://" + reg.Addr + "/team/models:v2")
	require.NoError(t, err)
	var blobs []mirror.Blob
	for _, f := range files {
		blobs = append(blobs, mirror.Blob{Name: f.Path, Path: f.Path, Digest: digest.Of(f.Data), Size: int64(len(f.Data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.Data)), nil }})
	}
	_, err = mirror.Push(context.Background(), m, blobs, mirror.PushOptions{})
	require.NoError(t, err)
	got, l := readFile(t, client(reg, nil), oci.Ref{Registry: reg.Addr, Repository: "team/models", Reference: "v2", PlainHTTP: true}, "codeformer/codeformer.pth")
	assert.Equal(t, files[0].Data, got)
	assert.False(t, l.Tar)
}

func TestHtpasswdAuth(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{Users: map[string]string{"alice": "s3cret"}})
	_, err := testsrv.PushArtifact(context.Background(), reg.Addr, "private/models", "v1", testsrv.ModelPackRaw, files, "alice", "s3cret")
	require.NoError(t, err)
	ref := oci.Ref{Registry: reg.Addr, Repository: "private/models", Reference: "v1", PlainHTTP: true}

	cred := func(context.Context, string) (auth.Credential, error) {
		return auth.Credential{Username: "alice", Password: "s3cret"}, nil
	}
	got, _ := readFile(t, client(reg, cred), ref, "gfpgan.pth")
	assert.Equal(t, files[2].Data, got)

	_, err = oci.Resolve(context.Background(), client(reg, nil), ref)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "asks for credentials and none are configured")
	var p interface{ Permanent() bool }
	require.True(t, errors.As(err, &p) && p.Permanent(), "%T %v", err, err)
}

func TestFileNotThere(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	_, err := testsrv.PushArtifact(context.Background(), reg.Addr, "m", "v1", testsrv.ModelPackRaw, files, "", "")
	require.NoError(t, err)
	a, err := oci.Resolve(context.Background(), client(reg, nil), oci.Ref{Registry: reg.Addr, Repository: "m", Reference: "v1", PlainHTTP: true})
	require.NoError(t, err)
	_, err = a.File("nope.bin")
	var fe *oci.FileError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), `no layer of the artifact holds it (it holds ["codeformer/LICENSE" "codeformer/codeformer.pth" "gfpgan.pth"])`)

	_, err = oci.Resolve(context.Background(), client(reg, nil), oci.Ref{Registry: reg.Addr, Repository: "m", Reference: "v9", PlainHTTP: true})
	var se *oci.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusNotFound, se.Code)
	assert.True(t, se.Permanent())
}
