package lock

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// An add that locks writes the manifest (made for it when there was none);
// one that does not lock writes nothing and leaves no manifest behind.
func TestAddFile(t *testing.T) {
	d := digest.Of([]byte("abc"))
	probes := fake{"https://h/a.bin": {Installed: d, InstalledSize: 3, Served: d, ServedSize: 3}}
	newProber := func([]*manifest.Model) (Prober, error) { return probes, nil }
	file := filepath.Join(t.TempDir(), "models.toml")
	req := AddRequest{File: file, NewProber: newProber, LockDir: t.TempDir(), Options: Options{MaxSize: 1 << 20}}

	req.Add = AddOptions{Name: "gone", Source: "https://h/missing.bin"}
	added, err := AddFile(context.Background(), req)
	require.NoError(t, err)
	assert.False(t, added.Written)
	require.NotEmpty(t, added.Report.Findings)
	assert.NoFileExists(t, file, "the manifest made for the add is removed")

	req.Add = AddOptions{Name: "a", Source: "https://h/a.bin"}
	added, err = AddFile(context.Background(), req)
	require.NoError(t, err)
	assert.True(t, added.Written)
	require.Len(t, added.Models, 1)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Contains(t, string(b), d.String()[len("sha256:"):])

	_, err = AddFile(context.Background(), AddRequest{File: file, Add: AddOptions{Name: "b", Source: "https://h/b", Include: []string{"*"}}})
	assert.ErrorIs(t, err, ErrBadAdd)
	b2, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, b, b2, "a refused add leaves the manifest as it was")
}
