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

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/internal/testsrv"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/mirror"
)

// TestBuildKit builds the models and production targets of both Dockerfiles,
// unchanged, with a real BuildKit engine (started by smoke.sh, which sets
// BUILDKIT_HOST, BUILDCTL, MODELFETCH_GOBASE and MODELFETCH_PYBASE), against
// stand-ins on a loopback server, and streams the engine's log as it goes.
func TestBuildKit(t *testing.T) {
	buildctl := os.Getenv("BUILDCTL")
	if buildctl == "" || os.Getenv("BUILDKIT_HOST") == "" || os.Getenv("MODELFETCH_PYBASE") == "" {
		t.Skip(engineSkip)
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
	build := func(dockerfile, ctxDir, target string, out string, extra ...string) (string, error) {
		args := []string{"build", "--frontend", "dockerfile.v0",
			"--local", "context=" + ctxDir, "--local", "dockerfile=..", "--opt", "filename=" + dockerfile,
			// Use the built-in Dockerfile frontend instead of pulling the syntax image.
			"--opt", "cmdline=docker/dockerfile:1.10",
			"--opt", "target=" + target,
			"--opt", "context:golang:1.26-bookworm=local:gobase", "--local", "gobase=" + os.Getenv("MODELFETCH_GOBASE"),
			"--output", out, "--progress", "plain"}
		cmd := exec.Command(os.Getenv("BUILDCTL"), append(args, extra...)...)
		var log bytes.Buffer
		w := io.MultiWriter(&log, &lineFilter{w: os.Stdout})
		cmd.Stdout, cmd.Stderr = w, w
		fmt.Printf("--- buildctl: %s, target %s\n", dockerfile, target)
		err := cmd.Run()
		return log.String(), err
	}

	// One context per Dockerfile: a comment makes each build's manifest
	// layer new, so the model-downloader step really runs again, through
	// the same cache mount. The production builds reuse them, so their
	// model stages come from the engine's cache.
	ctxDirs := map[string]string{}
	for i, df := range []string{"Dockerfile.cpu", "Dockerfile.gpu"} {
		ctxDirs[df] = context(st.manifest() + fmt.Sprintf("# build %d\n", i))
	}
	for i, df := range []string{"Dockerfile.cpu", "Dockerfile.gpu"} {
		t.Run(df, func(t *testing.T) {
			before := requests.Load()
			tarball := filepath.Join(t.TempDir(), "models.tar")
			log, err := build(df, ctxDirs[df], "models", "type=tar,dest="+tarball)
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

	// The production stages, with stand-ins for what cannot be pulled here:
	// the Python base (Debian bookworm's Python 3.11, from smoke.sh), the
	// builder stage's wheels (a named context replaces a stage of that name)
	// and the application, which has weights/CodeFormer/ like the real one.
	app, wheels := standInApp(t), standInWheels(t)
	const buildDate = "2026-11-27T06:13:25Z"
	for _, df := range []string{"Dockerfile.cpu", "Dockerfile.gpu"} {
		t.Run("production "+df, func(t *testing.T) {
			layout := filepath.Join(t.TempDir(), "oci")
			log, err := build(df, ctxDirs[df], "production", "type=oci,tar=false,compression=uncompressed,dest="+layout,
				"--opt", "context:python:3.11-slim-bookworm=local:pybase", "--local", "pybase="+os.Getenv("MODELFETCH_PYBASE"),
				"--opt", "context:builder=local:wheels", "--local", "wheels="+wheels,
				"--opt", "context:app=local:app", "--local", "app="+app,
				"--opt", "build-arg:BUILD_DATE="+buildDate, "--opt", "build-arg:VERSION=1.2.3", "--opt", "build-arg:VCS_REF=0123abc")
			require.NoError(t, err, "%s", log)
			img := readOCI(t, layout)
			t.Logf("%s: %d files, %.1f MB of uncompressed layers; the base and wheels are stand-ins, so this is not the image's size",
				df, len(img.files), float64(img.size)/1e6)
			checkProduction(t, "../"+df, img, real, installed, buildDate)
		})
	}

	// A CI farm (issue 12): the team's registry as a mirror, given as a
	// build argument, with its credentials as a secret. The first model has
	// new bytes (so not in the cache mount) that only the registry serves
	// right: the origin is not asked at all.
	t.Run("registry mirror with credentials as a secret", func(t *testing.T) {
		const user, password = "builder", "farm-s3cret"
		reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{Users: map[string]string{user: password}})
		victim := real.Models[0]
		data := standIn(seed+7, isDlib(victim))
		st.set(t, victim, data, true) // the origin would serve it corrupt
		m, err := mirror.Parse("oci+http://" + reg.Addr + "/facecraft/models")
		require.NoError(t, err)
		_, err = mirror.Push(t.Context(), m, []mirror.Blob{{Name: victim.Name, Path: victim.Path, Digest: digest.Of(data), Size: int64(len(data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}},
			mirror.PushOptions{Credential: auth.StaticCredential(reg.Addr, auth.Credential{Username: user, Password: password})})
		require.NoError(t, err)
		config := filepath.Join(t.TempDir(), "config.json")
		require.NoError(t, os.WriteFile(config, []byte(`{"auths":{"`+reg.Addr+`":{"username":"`+user+`","password":"`+password+`"}}}`), 0o600))

		before := requests.Load()
		tarball := filepath.Join(t.TempDir(), "models.tar")
		log, err := build("Dockerfile.cpu", context(st.manifest()), "models", "type=tar,dest="+tarball,
			"--opt", "build-arg:MODELFETCH_MIRRORS="+m.String(), "--secret", "id=docker_config,src="+config)
		require.NoError(t, err, "%s", log)
		assert.Equal(t, int32(0), requests.Load()-before, "the registry serves the new file, the cache mount the rest")
		assert.Contains(t, log, victim.Name+": installed")
		assert.Contains(t, log, "/v2/facecraft/models/blobs/sha256:"+digest.Of(data).String())
		assert.NotContains(t, log, password)
		checkTree(t, tarball, real, installed)
	})

	t.Run("corrupt stand-in fails the build", func(t *testing.T) {
		victim := real.Models[1]
		st.set(t, victim, standIn(seed+9, false), true) // new bytes, so not in the cache mount; served corrupt
		log, err := build("Dockerfile.cpu", context(st.manifest()), "models", "type=tar,dest="+filepath.Join(t.TempDir(), "models.tar"))
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
