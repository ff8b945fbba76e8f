package docker

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/manifest"
)

// TestBuildKit builds the models target of both Dockerfiles, unchanged, with
// a real BuildKit engine (started by smoke.sh, which sets BUILDKIT_HOST,
// BUILDCTL and MODELFETCH_GOBASE), against stand-ins on a loopback server.
func TestBuildKit(t *testing.T) {
	buildctl := os.Getenv("BUILDCTL")
	if buildctl == "" || os.Getenv("BUILDKIT_HOST") == "" {
		t.Skip("needs a BuildKit engine: run docker/smoke.sh")
	}
	// Fresh bytes each run: BuildKit's cache mount outlives builds.
	seed := int(time.Now().UnixNano()%1000) * 10
	st := newStandIns(t, seed)
	real, installed, requests := st.real, st.installed, &st.requests

	// The build context: what .dockerignore lets through, with the stand-in manifest.
	context := func(manifestText string) string {
		dir := t.TempDir()
		for _, p := range []string{"go.mod", "go.sum", ".dockerignore", "cmd", "pkg", "internal"} {
			out, err := exec.Command("cp", "-r", filepath.Join("..", p), dir).CombinedOutput()
			require.NoError(t, err, "%s", out)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, "models.toml"), []byte(manifestText), 0o644))
		return dir
	}
	build := func(dockerfile, ctxDir string, noCache bool) (string, string, error) {
		out := filepath.Join(t.TempDir(), "models.tar")
		args := []string{"build", "--frontend", "dockerfile.v0",
			"--local", "context=" + ctxDir, "--local", "dockerfile=..", "--opt", "filename=" + dockerfile,
			// Use the built-in Dockerfile frontend instead of pulling the syntax image.
			"--opt", "cmdline=docker/dockerfile:1.10",
			"--opt", "target=models",
			"--opt", "context:golang:1.26-bookworm=local:gobase", "--local", "gobase=" + os.Getenv("MODELFETCH_GOBASE"),
			"--output", "type=tar,dest=" + out, "--progress", "plain"}
		if noCache {
			args = append(args, "--no-cache")
		}
		cmd := exec.Command(os.Getenv("BUILDCTL"), args...)
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		err := cmd.Run()
		return out, log.String(), err
	}

	for i, df := range []string{"Dockerfile.cpu", "Dockerfile.gpu"} {
		t.Run(df, func(t *testing.T) {
			// A comment makes each build's manifest layer new, so the
			// model-downloader step really runs again, through the same
			// cache mount.
			ctxDir := context(st.manifest() + fmt.Sprintf("# build %d\n", i))
			before := requests.Load()
			tarball, log, err := build(df, ctxDir, false)
			require.NoError(t, err, "%s", log)
			assert.Contains(t, log, "[model-downloader 3/3] RUN")
			if i == 0 {
				assert.Greater(t, requests.Load()-before, int32(0), "the first build downloads")
				assert.Contains(t, log, "installed")
			} else {
				assert.Equal(t, int32(0), requests.Load()-before, "a second build through the same cache mount asks nothing of the network")
				assert.Contains(t, log, "cached")
			}
			checkTree(t, tarball, real, installed)
		})
	}

	t.Run("corrupt stand-in fails the build", func(t *testing.T) {
		victim := real.Models[1]
		st.set(t, victim, standIn(seed+9, false), true) // new bytes, so not in the cache mount; served corrupt
		_, log, err := build("Dockerfile.cpu", context(st.manifest()), false)
		require.Error(t, err, "the build must fail")
		assert.Contains(t, log, "modelfetch: error: "+victim.Name+": ")
		assert.Contains(t, log, "sha256 mismatch")
	})
}

// checkTree reads the exported models target and checks every file, its
// hash, and that /models, /home/appuser/.u2net and everything below them
// belong to 1000:1000 with the manifest's modes.
func checkTree(t *testing.T, tarball string, real *manifest.Manifest, installed map[string][]byte) {
	t.Helper()
	f, err := os.Open(tarball)
	require.NoError(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		name := "/" + strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
		name = strings.TrimSuffix(name, "/")
		under := strings.HasPrefix(name, "/models") || strings.HasPrefix(name, "/home/appuser/.u2net")
		if !under {
			continue
		}
		assert.Equal(t, "1000:1000", fmt.Sprintf("%d:%d", h.Uid, h.Gid), name)
		switch h.Typeflag {
		case tar.TypeDir:
			assert.Equal(t, int64(real.Defaults.DirMode), h.Mode&0o777, name)
		case tar.TypeReg:
			assert.Equal(t, int64(real.Defaults.FileMode), h.Mode&0o777, name)
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			seen[name] = true
			for _, mod := range real.Models {
				if filepath.Join(real.Dirs[mod.Dir], mod.Path) == name {
					assert.True(t, bytes.Equal(installed[mod.Name], b), "%s has the right bytes", name)
				}
			}
		}
	}
	for _, mod := range real.Models {
		assert.True(t, seen[filepath.Join(real.Dirs[mod.Dir], mod.Path)], "%s is in the image", mod.Name)
	}
}
