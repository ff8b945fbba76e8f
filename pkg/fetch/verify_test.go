package fetch

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A model whose path goes through a file of the install root fails with a
// line naming that file, not a system call's ("statat sub/m.bin: not a
// directory", as a black-box run saw); the file is left as it was.
func TestPathThroughAFileNamesTheFile(t *testing.T) {
	data := randomBytes(1000, 103)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	m := model(data, srv.URL+"/m.bin")
	m.Path = "sub/m.bin"
	tg := e.target(m)
	require.NoError(t, os.MkdirAll(tg.Root, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tg.Root, "sub"), []byte("mine"), 0o644))
	r := New(e.opts()).Install(context.Background(), []Target{tg})[0]
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "sub is a file, not a folder: sub/m.bin cannot be made in it")
	assert.NotContains(t, r.Err.Error(), "statat")
	got, err := os.ReadFile(filepath.Join(tg.Root, "sub"))
	require.NoError(t, err)
	assert.Equal(t, "mine", string(got))
}
