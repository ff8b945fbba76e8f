package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/manifest"
)

// TestRealManifest pins models.toml to the values the upstreams publish,
// transcribed here a second time so a slip in either copy fails the build.
func TestRealManifest(t *testing.T) {
	m, err := manifest.Load("../../models.toml")
	require.NoError(t, err)
	want := []struct {
		name, dir, path, sha string
		size                 int64
		sources              int
	}{
		{"dlib-shape-predictor-68", "models", "dlib/shape_predictor_68_face_landmarks.dat", "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f", 99693937, 3},
		{"codeformer", "models", "codeformer/codeformer.pth", "1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7", 376637898, 1},
		{"facelib-detection-resnet50", "models", "facelib/detection_Resnet50_Final.pth", "6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d", 109497761, 2},
		{"facelib-parsing-parsenet", "models", "facelib/parsing_parsenet.pth", "3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2", 85331193, 2},
		{"u2net-human-seg", "u2net", "u2net_human_seg.onnx", "01eb6a29a5c4d8edb30b56adad9bb3a2a0535338e480724a213e0acfd2d1c73c", 175997641, 1},
	}
	require.Len(t, m.Models, len(want))
	for i, w := range want {
		got := m.Models[i]
		assert.Equal(t, w.name, got.Name)
		assert.Equal(t, w.dir, got.Dir, w.name)
		assert.Equal(t, w.path, got.Path, w.name)
		assert.Equal(t, w.sha, got.SHA256.String(), w.name)
		assert.Equal(t, w.size, got.Size, w.name)
		assert.Len(t, got.Sources, w.sources, w.name)
	}
	assert.Equal(t, map[string]string{"models": "/models", "u2net": "/home/appuser/.u2net"}, m.Dirs)
	assert.Equal(t, &manifest.Owner{UID: 1000, GID: 1000}, m.Defaults.Owner)
	dlib := m.Models[0].Sources
	assert.Equal(t, "http", dlib[0].Parsed.Scheme)
	assert.Equal(t, decompress.None, dlib[2].Compression, "the CodeFormer mirror serves the .dat uncompressed")
	for _, mod := range m.Models {
		raw, _ := os.ReadFile("../../models.toml")
		assert.True(t, bytes.Contains(raw, []byte("[models."+mod.Name+"]")))
	}
}

// TestDemo runs the README's first command's manifest end to end.
func TestDemo(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-m", "../../examples/demo/models.toml", "--out", out,
		"--dir", "u2net=" + filepath.Join(out, "u2net"), "--no-cache", "--progress", "none"},
		&stdout, &stderr, env{})
	require.Equal(t, 0, code, stderr.String())
	assert.FileExists(t, filepath.Join(out, "dlib/shape_predictor_standin.dat"))
	assert.FileExists(t, filepath.Join(out, "u2net/u2net_standin.onnx"))
}
