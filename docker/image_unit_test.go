package docker

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// layerEntry is one tar entry of a hand-made layer: a folder (text ""), a file,
// or a link (link set).
type layerEntry struct{ name, text, link string }

// writeOCI writes an OCI layout folder with uncompressed layers, as
// buildctl's type=oci,tar=false,compression=uncompressed export does.
func writeOCI(t *testing.T, layers ...[]layerEntry) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755))
	put := func(b []byte) string {
		sum := sha256.Sum256(b)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "blobs", "sha256", hex.EncodeToString(sum[:])), b, 0o644))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
	}
	var descs []desc
	for _, l := range layers {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range l {
			h := &tar.Header{Name: e.name, Mode: 0o644, Uid: 0, Gid: 0}
			switch {
			case e.link != "":
				h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
			case e.name[len(e.name)-1] == '/':
				h.Typeflag, h.Mode = tar.TypeDir, 0o755
			default:
				h.Typeflag, h.Size = tar.TypeReg, int64(len(e.text))
			}
			require.NoError(t, tw.WriteHeader(h))
			_, err := tw.Write([]byte(e.text))
			require.NoError(t, err)
		}
		require.NoError(t, tw.Close())
		descs = append(descs, desc{"application/vnd.oci.image.layer.v1.tar", put(buf.Bytes())})
	}
	cfg := put([]byte(`{"config":{"User":"1000:1000"}}`))
	mf, err := json.Marshal(map[string]any{"config": desc{"application/vnd.oci.image.config.v1+json", cfg}, "layers": descs})
	require.NoError(t, err)
	idx, err := json.Marshal(map[string]any{"manifests": []desc{{"application/vnd.oci.image.manifest.v1+json", put(mf)}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644))
	return dir
}

var baseLayer = []layerEntry{
	{name: "app/"}, {name: "app/weights/"}, {name: "app/weights/CodeFormer/"}, {name: "app/weights/CodeFormer/.gitkeep"},
	{name: "app/cache/"}, {name: "app/cache/old"}, {name: "app/stale/"}, {name: "app/stale/file"},
	{name: "models/"}, {name: "models/codeformer/"}, {name: "models/codeformer/codeformer.pth", text: "weights"},
}

// The smoke build's checks read the image through readOCI; these prove it
// applies whiteouts and follows links as an engine would, so a folder left
// in place (the nesting defect) is told apart from a link.
func TestReadOCIAppliesWhiteoutsAndLinks(t *testing.T) {
	img := readOCI(t, writeOCI(t, baseLayer, []layerEntry{
		{name: "app/weights/.wh.CodeFormer"},
		{name: "app/weights/CodeFormer", link: "/models/codeformer"},
		{name: "app/cache/.wh..wh..opq"},
		{name: "app/cache/new", text: "n"},
		{name: "app/.wh.stale"},
	}))
	assert.Equal(t, "1000:1000", img.Config.User)
	assert.NotContains(t, img.files, "/app/weights/CodeFormer/.gitkeep")
	assert.NotContains(t, img.files, "/app/cache/old")
	assert.NotContains(t, img.files, "/app/stale")
	assert.NotContains(t, img.files, "/app/stale/file")
	assert.Contains(t, img.files, "/app/cache/new")
	got, h, ok := img.resolve("/app/weights/CodeFormer/codeformer.pth")
	require.True(t, ok)
	assert.Equal(t, "/models/codeformer/codeformer.pth", got)
	assert.Equal(t, byte(tar.TypeReg), h.Typeflag)
	assert.Equal(t, "weights", string(img.data[got]))

	// The old RUN step: the link went inside the app's folder.
	nested := readOCI(t, writeOCI(t, baseLayer, []layerEntry{{name: "app/weights/CodeFormer/codeformer", link: "/models/codeformer"}}))
	assert.Equal(t, byte(tar.TypeDir), nested.files["/app/weights/CodeFormer"].Typeflag)
	_, _, ok = nested.resolve("/app/weights/CodeFormer/codeformer.pth")
	assert.False(t, ok, "the weights do not resolve where CodeFormer looks")
}

func TestWritableBy1000(t *testing.T) {
	for _, c := range []struct {
		uid, gid int
		mode     int64
		want     bool
	}{
		{0, 0, 0o755, false}, {0, 0, 0o775, false}, {0, 0, 0o777, true},
		{1000, 1000, 0o755, true}, {1000, 0, 0o555, false}, {0, 1000, 0o775, true}, {0, 1000, 0o755, false},
	} {
		assert.Equal(t, c.want, writableBy1000(&tar.Header{Uid: c.uid, Gid: c.gid, Mode: c.mode}), "%d:%d %04o", c.uid, c.gid, c.mode)
	}
}
