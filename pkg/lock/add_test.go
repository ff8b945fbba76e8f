package lock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

type fakeLister struct {
	commit  string
	entries []fetch.HubEntry
	asked   []string
}

func (f *fakeLister) HubRevision(_ context.Context, r *manifest.Ref) (string, error) {
	f.asked = append(f.asked, "revision "+r.Rev)
	return f.commit, nil
}

func (f *fakeLister) HubTree(_ context.Context, r *manifest.Ref, rev string) ([]fetch.HubEntry, error) {
	f.asked = append(f.asked, "tree "+rev)
	return f.entries, nil
}

func TestNewModelsOneSource(t *testing.T) {
	for src, want := range map[string]string{
		"https://h/x/shape.dat.bz2?dl=1": "shape.dat",
		"file:weights/a.bin":             "a.bin",
		"hf://o/r@v1/sub/w.safetensors":  "w.safetensors",
		"hf://o/r/archive.tar.gz":        "archive.tar.gz", // the Hub's bytes are installed as stored
	} {
		nms, err := NewModels(context.Background(), nil, AddOptions{Name: "m", Source: src})
		require.NoError(t, err, src)
		assert.Equal(t, []manifest.NewModel{{Name: "m", Path: want, URLs: []string{src}, Size: -1}}, nms, src)
	}
	for src, want := range map[string]string{
		"https://h/":     "cannot tell a file name from https://h/: give --path",
		"hf://o":         "hf://o: want hf://",
		"https://h/a.gz": "--include and --exclude choose files of a repository",
	} {
		_, err := NewModels(context.Background(), nil, AddOptions{Name: "m", Source: src, Include: map[bool][]string{true: {"*"}}[src == "https://h/a.gz"]})
		require.Error(t, err, src)
		assert.True(t, errors.Is(err, ErrBadAdd), src)
		assert.Contains(t, err.Error(), want, src)
	}
}

func TestNewModelsRepo(t *testing.T) {
	const c = "0123456789abcdef0123456789abcdef01234567"
	l := &fakeLister{commit: c, entries: []fetch.HubEntry{
		{Type: "file", Path: "README.md"}, {Type: "directory", Path: "unet"}, {Type: "file", Path: "unet/model.safetensors"},
		{Type: "file", Path: "unet/config.json"}, {Type: "file", Path: "vae/x y.bin"}, {Type: "file", Path: "model.fp16.safetensors"},
	}}
	nms, err := NewModels(context.Background(), l, AddOptions{Name: "sd", Source: "hf://o/r", Dir: "big",
		Include: []string{"*.safetensors", "vae/"}, Exclude: []string{"*fp16*"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"revision main", "tree " + c}, l.asked)
	pins := manifest.Pins{{Key: "hf://o/r@main", Value: c}}
	assert.Equal(t, []manifest.NewModel{
		{Name: "sd.unet.model.safetensors", Dir: "big", Path: "sd/unet/model.safetensors", URLs: []string{"hf://o/r/unet/model.safetensors"}, Size: -1, Pins: pins},
		{Name: "sd.vae.x_y.bin", Dir: "big", Path: "sd/vae/x y.bin", URLs: []string{"hf://o/r/vae/x y.bin"}, Size: -1, Pins: pins},
	}, nms)

	// At a commit: no revision call, no pins needed.
	l.asked = nil
	nms, err = NewModels(context.Background(), l, AddOptions{Name: "sd", Source: "hf://o/r@" + c, Path: "models/sd", Include: []string{"README.md"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"tree " + c}, l.asked)
	assert.Equal(t, []manifest.NewModel{{Name: "sd.README.md", Path: "models/sd/README.md", URLs: []string{"hf://o/r@" + c + "/README.md"}, Size: -1}}, nms)

	_, err = NewModels(context.Background(), l, AddOptions{Name: "sd", Source: "hf://o/r", Include: []string{"[abc"}})
	assert.ErrorContains(t, err, `pattern "[abc": '[' without ']'`)
	_, err = NewModels(context.Background(), l, AddOptions{Name: "sd", Source: "hf://o/r", Include: []string{"*.gguf"}})
	assert.ErrorContains(t, err, "no file of hf://o/r@main matches (of 6 listed)")
}

func TestGlobsAreFnmatch(t *testing.T) {
	res, err := globs([]string{"*.json", "w?.bin", "[!x]y", "d/"})
	require.NoError(t, err)
	for p, want := range map[string]bool{
		"a.json": true, "sub/a.json": true, "w1.bin": true, "w12.bin": false, "ay": true, "xy": false,
		"d/e/f": true, "dd/e": false, "a.jsonx": false,
	} {
		assert.Equal(t, want, keep(p, res, nil), p)
	}
}

// Rewrite makes the change again on what another writer left.
func TestRewriteRedoesOnAChangedFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "m.toml")
	require.NoError(t, os.WriteFile(file, []byte("read\n"), 0o640))
	require.NoError(t, Rewrite(context.Background(), file, []byte("read\n"), []byte("read\nplanned\n"), "", nil))
	b, _ := os.ReadFile(file)
	assert.Equal(t, "read\nplanned\n", string(b))

	redo := func(cur []byte) ([]byte, error) { return append(cur, "again\n"...), nil }
	require.NoError(t, Rewrite(context.Background(), file, []byte("read\n"), []byte("stale\n"), "", redo))
	b, _ = os.ReadFile(file)
	assert.Equal(t, "read\nplanned\nagain\n", string(b))
	fi, _ := os.Stat(file)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
}
