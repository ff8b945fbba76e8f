package docker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/manifest"
)

// TestModelStageCommand runs the model-downloader's exact command line —
// same binary (static), same absolute paths — in a chroot that stands in for
// the scratch stage, against a loopback server with stand-ins for the five
// real artifacts, then checks the tree the production stage copies.
func TestModelStageCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for chroot and chown")
	}
	if _, err := exec.LookPath("bzip2"); err != nil {
		t.Skip("needs bzip2 for the dlib stand-in")
	}
	root := t.TempDir()
	require.NoError(t, os.Chmod(root, 0o755))
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(root, "modelfetch"), "./cmd/modelfetch")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	real, err := manifest.Load("../models.toml")
	require.NoError(t, err)

	// Stand-ins: small files with the real names; dlib's is served bzip2'd.
	files := map[string][]byte{}
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		b, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, r.URL.Path, time.Unix(0, 0), bytes.NewReader(b))
	}))
	defer srv.Close()

	var m strings.Builder
	fmt.Fprintf(&m, "version = 1\n[defaults]\nowner = %q\nfile_mode = \"%04o\"\ndir_mode = \"%04o\"\n[dirs]\n",
		real.Defaults.Owner.String(), real.Defaults.FileMode, real.Defaults.DirMode)
	for _, name := range []string{"models", "u2net"} {
		fmt.Fprintf(&m, "%s = %q\n", name, real.Dirs[name])
	}
	installed := map[string][]byte{}
	for i, mod := range real.Models {
		data := standIn(i, strings.HasPrefix(mod.Name, "dlib"))
		installed[mod.Name] = data
		served, url := data, mod.Name
		if strings.HasPrefix(mod.Name, "dlib") {
			served, url = bzip2(t, data), mod.Name+".bz2"
		}
		files[url] = served
		sum := sha256.Sum256(data)
		fmt.Fprintf(&m, "[models.%s]\ndir = %q\npath = %q\nsha256 = %q\nsize = %d\nurls = [%q]\n",
			mod.Name, mod.Dir, mod.Path, hex.EncodeToString(sum[:]), len(data), srv.URL+"/"+url)
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "models.toml"), []byte(m.String()), 0o644))

	run := func() string {
		cmd := exec.Command(ModelfetchArgs[0], ModelfetchArgs[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		cmd.Dir = "/"
		cmd.Env = []string{} // scratch has no environment to speak of
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Run(), "%s", stderr.String())
		return stderr.String()
	}
	log := run()
	assert.Contains(t, log, "installed")
	assert.Equal(t, int32(len(real.Models)), requests.Load())

	for _, mod := range real.Models {
		dest := filepath.Join(root, real.Dirs[mod.Dir], mod.Path)
		got, err := os.ReadFile(dest)
		require.NoError(t, err, mod.Name)
		assert.Equal(t, installed[mod.Name], got, mod.Name)
		checkOwner(t, dest, 0o644)
		for d := filepath.Dir(dest); d != filepath.Join(root, real.Dirs[mod.Dir]); d = filepath.Dir(d) {
			checkOwner(t, d, 0o755)
		}
	}
	// The roots themselves are created by modelfetch, so they are appuser's too.
	checkOwner(t, filepath.Join(root, "models"), 0o755)
	checkOwner(t, filepath.Join(root, "home/appuser/.u2net"), 0o755)
	// Nothing but the installed files in the install roots.
	var stray []string
	for _, r := range []string{"models", "home/appuser/.u2net"} {
		filepath.Walk(filepath.Join(root, r), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && strings.HasPrefix(fi.Name(), ".") {
				stray = append(stray, p)
			}
			return nil
		})
	}
	assert.Empty(t, stray)

	// A second build step with the same cache: no request at all.
	require.NoError(t, os.RemoveAll(filepath.Join(root, "models")))
	log = run()
	assert.Contains(t, log, "cached")
	assert.Equal(t, int32(len(real.Models)), requests.Load())
}

func checkOwner(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	assert.Equal(t, "1000:1000", fmt.Sprintf("%d:%d", st.Uid, st.Gid), p)
	assert.Equal(t, mode, fi.Mode().Perm(), p)
}

func standIn(i int, text bool) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	b := make([]byte, 50_000+(i%50)*1000)
	for j := range b {
		if text {
			b[j] = "0123456789. \n"[r.IntN(13)]
		} else {
			b[j] = byte(r.Uint32())
		}
	}
	return b
}

func bzip2(t *testing.T, data []byte) []byte {
	t.Helper()
	cmd := exec.Command("bzip2", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	require.NoError(t, err)
	return out
}
