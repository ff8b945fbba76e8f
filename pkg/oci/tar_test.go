package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
)

var testRef = Ref{Registry: "127.0.0.1:5000", Repository: "models", Reference: "v1", PlainHTTP: true}

type entry struct {
	name, body, link string
	flag             byte
}

func makeTar(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.flag != 0 {
			h.Typeflag, h.Size, h.Linkname = e.flag, 0, e.link
		}
		require.NoError(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write([]byte(e.body))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return b.Bytes()
}

func compress(t *testing.T, f decompress.Format, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch f {
	case decompress.None:
		return data
	case decompress.Gzip:
		w := gzip.NewWriter(&b)
		_, _ = w.Write(data)
		require.NoError(t, w.Close())
	case decompress.Zstd:
		w, err := zstd.NewWriter(&b)
		require.NoError(t, err)
		_, _ = w.Write(data)
		require.NoError(t, w.Close())
	}
	return b.Bytes()
}

func tarLayer(layer []byte, f decompress.Format, name string) Layer {
	mt := map[decompress.Format]string{decompress.None: ".tar", decompress.Gzip: ".tar+gzip", decompress.Zstd: ".tar+zstd"}[f]
	return Layer{Tar: true, Compression: f, Entry: name, Desc: ocispec.Descriptor{
		MediaType: "application/vnd.cncf.model.weight.v1" + mt, Digest: godigest.FromBytes(layer), Size: int64(len(layer))}}
}

func extractAll(t *testing.T, layer []byte, l Layer, size int64) (string, error) {
	t.Helper()
	rc, err := Extract(bytes.NewReader(layer), testRef, l, size)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func TestExtractEachCompression(t *testing.T) {
	archive := makeTar(t,
		entry{name: "./README.md", body: "readme"},
		entry{name: "weights/", flag: tar.TypeDir},
		entry{name: "weights/model.bin", body: "the weights"},
		entry{name: "weights/other.bin", body: "other"},
	)
	for _, f := range []decompress.Format{decompress.None, decompress.Gzip, decompress.Zstd} {
		t.Run(f.String(), func(t *testing.T) {
			layer := compress(t, f, archive)
			got, err := extractAll(t, layer, tarLayer(layer, f, "weights/model.bin"), 11)
			require.NoError(t, err)
			assert.Equal(t, "the weights", got)
			got, err = extractAll(t, layer, tarLayer(layer, f, "README.md"), -1)
			require.NoError(t, err)
			assert.Equal(t, "readme", got)
		})
	}
}

func TestExtractChecksTheWholeLayer(t *testing.T) {
	layer := makeTar(t, entry{name: "model.bin", body: "the weights"}, entry{name: "after.txt", body: "AFTERBODY"})
	l := tarLayer(layer, decompress.None, "model.bin")
	bad := bytes.Clone(layer)
	i := bytes.Index(bad, []byte("AFTERBODY"))
	bad[i] = 'a' // in an entry after the one extracted
	_, err := extractAll(t, bad, l, 11)
	var mm *digest.MismatchError
	require.ErrorAs(t, err, &mm)

	_, err = extractAll(t, layer[:len(layer)-512], l, 11) // the end blocks cut off
	require.Error(t, err)
	assert.True(t, digest.IsIntegrity(err) || errors.Is(err, io.ErrUnexpectedEOF), err)
}

func TestExtractRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		size    int64
		want    string
		integ   bool
	}{
		{name: "symlink", entries: []entry{{name: "model.bin", flag: tar.TypeSymlink, link: "/etc/passwd"}}, size: -1, want: `is a link (to "/etc/passwd"); refused`},
		{name: "hardlink", entries: []entry{{name: "x", body: "x"}, {name: "model.bin", flag: tar.TypeLink, link: "x"}}, size: -1, want: "is a link"},
		{name: "folder", entries: []entry{{name: "model.bin/", flag: tar.TypeDir}}, size: -1, want: "is not a regular file"},
		{name: "absolute", entries: []entry{{name: "/model.bin", body: "x"}}, size: -1, want: "absolute name"},
		{name: "dotdot", entries: []entry{{name: "a/../model.bin", body: "x"}}, size: -1, want: `".." in its name`},
		{name: "missing", entries: []entry{{name: "other.bin", body: "x"}}, size: -1, want: "holds no such entry"},
		{name: "size", entries: []entry{{name: "model.bin", body: "12345"}}, size: 4, want: "is 5 bytes; models.toml declares 4", integ: true},
		{name: "twice", entries: []entry{{name: "model.bin", body: "x"}, {name: "./model.bin", body: "y"}}, size: 1, want: `holds "model.bin" twice`, integ: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layer := makeTar(t, tc.entries...)
			_, err := extractAll(t, layer, tarLayer(layer, decompress.None, "model.bin"), tc.size)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
			var ie *IntegrityError
			assert.Equal(t, tc.integ, errors.As(err, &ie), err)
		})
	}
}

// lazyTar is a tar header claiming a 10 GB entry followed by zeros made as
// they are read: nothing close to 10 GB is ever held or written.
type lazyTar struct {
	head []byte
	left int64
	read int64
}

func (z *lazyTar) Read(p []byte) (int, error) {
	if len(z.head) > 0 {
		n := copy(p, z.head)
		z.head = z.head[n:]
		z.read += int64(n)
		return n, nil
	}
	if z.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.left))
	clear(p[:n])
	z.left -= int64(n)
	z.read += int64(n)
	return n, nil
}

func TestExtractHugeEntryFailsFast(t *testing.T) {
	const huge = 10 << 30
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "model.bin", Mode: 0o644, Size: huge, Typeflag: tar.TypeReg}))
	src := &lazyTar{head: hdr.Bytes(), left: huge + 1024}
	l := Layer{Tar: true, Compression: decompress.None, Entry: "model.bin", Desc: ocispec.Descriptor{
		Digest: godigest.FromString("whatever"), Size: int64(hdr.Len()) + huge + 1024}}
	rc, err := Extract(src, testRef, l, 1<<20)
	require.NoError(t, err)
	defer rc.Close()
	_, err = io.ReadAll(rc)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is 10737418240 bytes; models.toml declares 1048576")
	assert.Less(t, src.read, int64(1<<20), "the entry's data was read")
}

func TestExtractNotATar(t *testing.T) {
	layer := bytes.Repeat([]byte("not a tar "), 100)
	_, err := extractAll(t, layer, tarLayer(layer, decompress.None, "model.bin"), -1)
	var ie *IntegrityError
	require.ErrorAs(t, err, &ie)
	assert.Contains(t, err.Error(), "is not a valid tar archive")
}
