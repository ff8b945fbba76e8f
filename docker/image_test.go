package docker

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	slashpath "path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/manifest"
)

// engineSkip says why TestBuildKit did not run and how to run it; go test
// prints it with -v, which the README's test command asks for.
const engineSkip = "no BuildKit engine (BUILDKIT_HOST, BUILDCTL and MODELFETCH_PYBASE unset): " +
	"the image builds did not run; bash docker/smoke.sh (as root) starts an engine and runs them"

// lineFilter passes the engine's plain progress through line by line,
// without the repeated "transferring" counters of the big local contexts.
type lineFilter struct {
	w    io.Writer
	part []byte
}

var transferTick = regexp.MustCompile(`^#\d+ transferring [^ ]+ [0-9.]+[kMG]?B [0-9.]+s$`)

func (f *lineFilter) Write(p []byte) (int, error) {
	f.part = append(f.part, p...)
	for {
		i := bytes.IndexByte(f.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := f.part[:i+1]
		if !transferTick.Match(bytes.TrimRight(line, "\n")) {
			if _, err := f.w.Write(line); err != nil {
				return 0, err
			}
		}
		f.part = f.part[i+1:]
	}
}

// standInApp is the application context: a module, its requirements and,
// like CodeFormer's repository, weights/CodeFormer/ and weights/facelib/.
func standInApp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p, text := range map[string]string{
		"app/__init__.py":             "",
		"app/main.py":                 "app = None\n",
		"requirements.txt":            "facecraft-standin\n",
		"weights/CodeFormer/.gitkeep": "",
		"weights/facelib/.gitkeep":    "",
	} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(text), 0o644))
	}
	return dir
}

// standInWheels stands in for the builder stage: a folder with wheels/ and
// one small pure-Python wheel, which pip really installs.
func standInWheels(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "wheels"), 0o755))
	const info = "facecraft_standin-0.1.0.dist-info/"
	files := []struct{ name, text string }{
		{"facecraft_standin/__init__.py", "STANDIN = True\n"},
		{info + "METADATA", "Metadata-Version: 2.1\nName: facecraft-standin\nVersion: 0.1.0\n"},
		{info + "WHEEL", "Wheel-Version: 1.0\nGenerator: modelfetch-smoke\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range files {
		w, err := zw.Create(f.name)
		require.NoError(t, err)
		_, err = io.WriteString(w, f.text)
		require.NoError(t, err)
		sum := sha256.Sum256([]byte(f.text))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.text))
	}
	record.WriteString(info + "RECORD,,\n")
	w, err := zw.Create(info + "RECORD")
	require.NoError(t, err)
	_, err = io.WriteString(w, record.String())
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wheels", "facecraft_standin-0.1.0-py3-none-any.whl"), buf.Bytes(), 0o644))
	return dir
}

// image is an exported image: its config and its layers applied in order.
type image struct {
	Config struct {
		User         string
		Env          []string
		Labels       map[string]string
		ExposedPorts map[string]struct{}
		WorkingDir   string
		Cmd          []string
		Healthcheck  *struct {
			Test        []string
			Interval    time.Duration
			Timeout     time.Duration
			StartPeriod time.Duration
			Retries     int
		}
	} `json:"config"`
	files map[string]*tar.Header
	data  map[string][]byte // contents of the small regular files the checks read
	size  int64             // of the layers, uncompressed
}

// keep says which file contents readOCI holds on to.
func keep(name string) bool {
	return strings.HasPrefix(name, "/models/") || strings.HasPrefix(name, "/home/appuser/.u2net/") ||
		strings.HasPrefix(name, "/app/") || name == "/etc/passwd"
}

// readOCI reads an OCI layout folder (uncompressed layers) and applies its
// layers with their whiteouts, as a container engine would.
func readOCI(t *testing.T, dir string) *image {
	t.Helper()
	blob := func(dgst string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", strings.Replace(dgst, ":", "/", 1)))
		require.NoError(t, err)
		return b
	}
	var index, mf struct {
		Manifests []struct{ Digest string } `json:"manifests"`
		Config    struct{ Digest string }   `json:"config"`
		Layers    []struct {
			Digest    string
			MediaType string
		} `json:"layers"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &index))
	require.Len(t, index.Manifests, 1)
	require.NoError(t, json.Unmarshal(blob(index.Manifests[0].Digest), &mf))
	img := &image{files: map[string]*tar.Header{}, data: map[string][]byte{}}
	require.NoError(t, json.Unmarshal(blob(mf.Config.Digest), img))

	remove := func(p string, self bool) {
		for name := range img.files {
			if (self && name == p) || strings.HasPrefix(name, strings.TrimSuffix(p, "/")+"/") {
				delete(img.files, name)
				delete(img.data, name)
			}
		}
	}
	for _, l := range mf.Layers {
		require.Equal(t, "application/vnd.oci.image.layer.v1.tar", l.MediaType, "uncompressed layers")
		f, err := os.Open(filepath.Join(dir, "blobs", strings.Replace(l.Digest, ":", "/", 1)))
		require.NoError(t, err)
		if fi, err := f.Stat(); err == nil {
			img.size += fi.Size()
		}
		type entry struct {
			h    *tar.Header
			data []byte
		}
		var adds []entry
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			name := slashpath.Clean("/" + h.Name)
			base, parent := slashpath.Base(name), slashpath.Dir(name)
			switch {
			case base == ".wh..wh..opq":
				remove(parent, false)
			case strings.HasPrefix(base, ".wh."):
				remove(slashpath.Join(parent, strings.TrimPrefix(base, ".wh.")), true)
			default:
				var data []byte
				if h.Typeflag == tar.TypeReg && keep(name) {
					data, err = io.ReadAll(tr)
					require.NoError(t, err)
				}
				adds = append(adds, entry{h, data})
			}
		}
		f.Close()
		for _, e := range adds {
			name := slashpath.Clean("/" + e.h.Name)
			if old, ok := img.files[name]; e.h.Typeflag != tar.TypeDir || (ok && old.Typeflag != tar.TypeDir) {
				remove(name, true)
			}
			img.files[name] = e.h
			if e.data != nil {
				img.data[name] = e.data
			}
		}
	}
	return img
}

// resolve follows symbolic links in p as the kernel would, within the image.
func (img *image) resolve(p string) (string, *tar.Header, bool) {
	parts := strings.Split(strings.Trim(slashpath.Clean(p), "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		next := slashpath.Join(cur, parts[0])
		parts = parts[1:]
		h, ok := img.files[next]
		if !ok {
			return next, nil, false
		}
		if h.Typeflag == tar.TypeSymlink {
			if hops++; hops > 40 {
				return next, nil, false
			}
			target := h.Linkname
			if !slashpath.IsAbs(target) {
				target = slashpath.Join(cur, target)
			}
			parts = append(strings.Split(strings.Trim(slashpath.Clean(target), "/"), "/"), parts...)
			cur = "/"
			continue
		}
		cur = next
	}
	h, ok := img.files[cur]
	return cur, h, ok
}

// writableBy says whether uid/gid 1000 may write the entry.
func writableBy1000(h *tar.Header) bool {
	return (h.Uid == 1000 && h.Mode&0o200 != 0) || (h.Gid == 1000 && h.Mode&0o020 != 0) || h.Mode&0o002 != 0
}

// checkProduction checks an exported production image against its
// Dockerfile: user, labels, healthcheck, the model trees, the volume
// folders, the read-only code and the CodeFormer links.
func checkProduction(t *testing.T, dockerfile string, img *image, real *manifest.Manifest, installed map[string][]byte, buildDate string) {
	t.Helper()
	prod := stage(t, stages(t, dockerfile), "production")
	cfg := img.Config

	assert.Equal(t, "1000:1000", cfg.User)
	assert.Equal(t, "/app", cfg.WorkingDir)
	assert.Contains(t, cfg.ExposedPorts, "8000/tcp")
	for k, v := range stageEnv(prod) {
		assert.Contains(t, cfg.Env, k+"="+v)
	}

	var health *instructions.HealthCheckCommand
	for _, c := range prod.Commands {
		if h, ok := c.(*instructions.HealthCheckCommand); ok {
			health = h
		}
	}
	require.NotNil(t, health)
	require.NotNil(t, cfg.Healthcheck, "the image has a HEALTHCHECK")
	assert.Equal(t, health.Health.Test, cfg.Healthcheck.Test)
	assert.Equal(t, 180*time.Second, cfg.Healthcheck.StartPeriod)
	assert.Equal(t, 30*time.Second, cfg.Healthcheck.Interval)
	assert.Equal(t, 10*time.Second, cfg.Healthcheck.Timeout)
	assert.Equal(t, 3, cfg.Healthcheck.Retries)

	want := stageLabels(prod)
	want["org.opencontainers.image.created"] = buildDate
	want["org.opencontainers.image.version"] = "1.2.3"
	want["org.opencontainers.image.revision"] = "0123abc"
	for k, v := range want {
		assert.Equal(t, v, cfg.Labels[k], k)
	}
	_, err := time.Parse(time.RFC3339, cfg.Labels["org.opencontainers.image.created"])
	assert.NoError(t, err)

	assert.Contains(t, string(img.data["/etc/passwd"]), "appuser:x:1000:1000:")
	owner := func(p string) string {
		h, ok := img.files[p]
		if !ok {
			return "missing"
		}
		return fmt.Sprintf("%d:%d", h.Uid, h.Gid)
	}
	for _, d := range []string{"/models", "/home/appuser/.u2net", "/home/appuser"} {
		assert.Equal(t, "1000:1000", owner(d), d)
	}
	for _, mod := range real.Models {
		p := filepath.Join(real.Dirs[mod.Dir], mod.Path)
		assert.Equal(t, "1000:1000", owner(p), p)
		assert.True(t, bytes.Equal(installed[mod.Name], img.data[p]), "%s has the right bytes", p)
	}

	// The volume folders are appuser's; nothing else under /app is writable by it.
	volumes := composeVolumeTargets(t)["djok/facecraft:"+strings.TrimPrefix(filepath.Ext(dockerfile), ".")]
	require.NotEmpty(t, volumes)
	for _, v := range volumes {
		h, ok := img.files[v]
		require.True(t, ok, "%s is in the image", v)
		assert.Equal(t, byte(tar.TypeDir), h.Typeflag, v)
		assert.Equal(t, "1000:1000", owner(v), v)
		assert.True(t, writableBy1000(h), v)
	}
	n := 0
	for name, h := range img.files {
		if name != "/app" && !strings.HasPrefix(name, "/app/") || h.Typeflag == tar.TypeSymlink {
			continue
		}
		if slices.ContainsFunc(volumes, func(v string) bool { return name == v || strings.HasPrefix(name, v+"/") }) {
			continue
		}
		n++
		assert.False(t, writableBy1000(h), "%s (%d:%d %04o) is writable by uid 1000", name, h.Uid, h.Gid, h.Mode&0o7777)
	}
	assert.Greater(t, n, 3, "the app code is in the image")
	assert.Equal(t, "app = None\n", string(img.data["/app/app/main.py"]))

	// CodeFormer's folders became links, and its weights resolve through them.
	for link, target := range map[string]string{"/app/weights/CodeFormer": "/models/codeformer", "/app/weights/facelib": "/models/facelib"} {
		h, ok := img.files[link]
		require.True(t, ok, link)
		assert.Equal(t, byte(tar.TypeSymlink), h.Typeflag, "%s is a link, not a folder", link)
		assert.Equal(t, target, h.Linkname, link)
	}
	for _, mod := range real.Models {
		if mod.Dir != "models" || !slices.Contains([]string{"codeformer", "facelib"}, strings.Split(mod.Path, "/")[0]) {
			continue
		}
		in := "/app/weights/" + map[string]string{"codeformer": "CodeFormer", "facelib": "facelib"}[strings.Split(mod.Path, "/")[0]] +
			"/" + strings.SplitN(mod.Path, "/", 2)[1]
		got, h, ok := img.resolve(in)
		require.True(t, ok, "%s resolves", in)
		assert.Equal(t, byte(tar.TypeReg), h.Typeflag, in)
		assert.Equal(t, filepath.Join(real.Dirs["models"], mod.Path), got, in)
		assert.True(t, bytes.Equal(installed[mod.Name], img.data[got]), "%s has the right bytes", in)
	}

	// pip installed the stand-in wheel from the builder's folder.
	assert.True(t, slices.ContainsFunc(slices.Collect(maps.Keys(img.files)), func(p string) bool {
		return strings.HasSuffix(p, "-packages/facecraft_standin/__init__.py")
	}), "the wheel is installed")
}
