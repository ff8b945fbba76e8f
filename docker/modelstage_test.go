package docker

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

	st := newStandIns(t, 0)
	real := st.real
	require.NoError(t, os.WriteFile(filepath.Join(root, "models.toml"), []byte(st.manifest()), 0o644))
	installed := st.installed
	requests := &st.requests

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
