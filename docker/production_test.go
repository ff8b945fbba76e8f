package docker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/buildx/bake"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The checks below each keep one defect of the production stages from
// coming back (issue 15); docker/smoke.sh proves the same on a real build.

// globalArgs returns the defaults of the ARGs before the first FROM.
func globalArgs(t *testing.T, f string) map[string]string {
	t.Helper()
	fh, err := os.Open(f)
	require.NoError(t, err)
	defer fh.Close()
	ast, err := parser.Parse(fh)
	require.NoError(t, err)
	_, meta, err := instructions.Parse(ast.AST, nil)
	require.NoError(t, err)
	args := map[string]string{}
	for _, a := range meta {
		for _, kv := range a.Args {
			if kv.Value != nil {
				args[kv.Key] = *kv.Value
			}
		}
	}
	return args
}

// baseOf is the image a stage starts from, with the global ARG defaults.
func baseOf(t *testing.T, f, name string) string {
	t.Helper()
	args := globalArgs(t, f)
	return os.Expand(stage(t, stages(t, f), name).BaseName, func(k string) string { return args[k] })
}

// stageArg is the default of an ARG declared inside a stage.
func stageArg(s instructions.Stage, key string) (string, bool) {
	for _, c := range s.Commands {
		if a, ok := c.(*instructions.ArgCommand); ok {
			for _, kv := range a.Args {
				if kv.Key == key && kv.Value != nil {
					return *kv.Value, true
				}
			}
		}
	}
	return "", false
}

func stageEnv(s instructions.Stage) map[string]string {
	env := map[string]string{}
	for _, c := range s.Commands {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				env[kv.Key] = unquote(kv.Value)
			}
		}
	}
	return env
}

func stageLabels(s instructions.Stage) map[string]string {
	labels := map[string]string{}
	for _, c := range s.Commands {
		if l, ok := c.(*instructions.LabelCommand); ok {
			for _, kv := range l.Labels {
				labels[kv.Key] = unquote(kv.Value)
			}
		}
	}
	return labels
}

// unquote takes the quotes off a plain "…" value of ENV or LABEL, as the
// engine does (the values here have no escapes or variables inside quotes
// other than ${NAME}).
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

var officialPython = regexp.MustCompile(`^python:(3\.\d+)-slim-[a-z]+$`)

// Defect: a CUDA 12.4 base (with NVIDIA_REQUIRE_CUDA=cuda>=12.4) under torch
// wheels that bring their own CUDA 11.8, and Python 3.11 from jammy's universe.
func TestGPUBaseMatchesWheels(t *testing.T) {
	const f = "../Dockerfile.gpu"
	var wheelCUDA string
	for _, r := range runs(stage(t, stages(t, f), "builder")) {
		if m := regexp.MustCompile(`torch==[0-9.]+\+cu(\d+)(\d)\b`).FindStringSubmatch(strings.Join(r.CmdLine, " ")); m != nil {
			wheelCUDA = m[1] + "." + m[2]
		}
	}
	require.Equal(t, "11.8", wheelCUDA, "the builder pins CUDA torch wheels")

	prod := stage(t, stages(t, f), "production")
	base := baseOf(t, f, "production")
	env := stageEnv(prod)
	if tag, ok := strings.CutPrefix(base, "nvidia/cuda:"); ok {
		// A CUDA base must be the one the wheels were built for.
		assert.True(t, strings.HasPrefix(tag, wheelCUDA+"."), "CUDA base %s does not match the cu%s wheels", base, wheelCUDA)
		assert.Contains(t, tag, "cudnn8", base)
	} else {
		// Any other base: the NVIDIA runtime acts only on these variables.
		assert.Equal(t, "all", env["NVIDIA_VISIBLE_DEVICES"])
		assert.Contains(t, strings.Split(env["NVIDIA_DRIVER_CAPABILITIES"], ","), "compute")
	}
	if req, ok := env["NVIDIA_REQUIRE_CUDA"]; ok {
		assert.Equal(t, "cuda>="+wheelCUDA, req, "the driver check asks for what the wheels need, no more")
	}
	assert.NotContains(t, base, "12.", "no CUDA 12 libraries under CUDA 11.8 wheels")
}

// Defect: python3.11 from an Ubuntu universe repository. Python comes from
// the official Python image, the same minor version in builder and production
// (the wheels are built for it), in both Dockerfiles.
func TestPythonFromOfficialImage(t *testing.T) {
	for _, f := range dockerfiles {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b := officialPython.FindStringSubmatch(baseOf(t, f, "builder"))
			p := officialPython.FindStringSubmatch(baseOf(t, f, "production"))
			require.NotNil(t, b, "builder base %s", baseOf(t, f, "builder"))
			require.NotNil(t, p, "production base %s", baseOf(t, f, "production"))
			assert.Equal(t, b[1], p[1], "wheels are built for the production Python")
			for _, s := range stages(t, f) {
				for _, r := range runs(s) {
					assert.NotRegexp(t, `apt-get install[^&]*\bpython3`, strings.Join(r.CmdLine, " "), "%s: Python from the distribution", s.Name)
				}
			}
		})
	}
}

// appSteps is the result of running the production stage's /app steps.
type appSteps struct {
	root   string
	chowns map[string]string // image path -> owner given to chown
}

// runAppSteps runs the production RUN steps that shape /app (those naming
// /app and mounting nothing) on a temporary root laid out as the image is
// after COPY --from=app: the app brings weights/CodeFormer/ and
// weights/facelib/ folders, as CodeFormer's repository does. chown is
// recorded, not run, so the check needs no root.
func runAppSteps(t *testing.T, f string) appSteps {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"app/weights/CodeFormer", "app/weights/facelib", "models/codeformer", "models/facelib"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for p, text := range map[string]string{
		"app/weights/CodeFormer/.gitkeep":       "",
		"app/weights/facelib/.gitkeep":          "",
		"models/codeformer/codeformer.pth":      "codeformer",
		"models/facelib/parsing_parsenet.pth":   "parsenet",
		"models/facelib/detection_Resnet50.pth": "retinaface",
		"app/app/main.py":                       "app = None\n",
	} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(text), 0o644))
	}
	bin := t.TempDir()
	log := filepath.Join(t.TempDir(), "chown.log")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "chown"), []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >> "+log+"\n"), 0o755))

	abs := regexp.MustCompile(`(^|[\s'"=])/(app|models)\b`)
	n := 0
	for _, r := range runs(stage(t, stages(t, f), "production")) {
		line := strings.Join(r.CmdLine, " ")
		if !r.PrependShell || len(instructions.GetMounts(r)) > 0 || !strings.Contains(line, "/app") {
			continue
		}
		n++
		cmd := exec.Command("sh", "-ec", abs.ReplaceAllString(line, "${1}"+root+"/${2}"))
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s\n%s", line, out)
	}
	require.NotZero(t, n, "a RUN step shapes /app")

	st := appSteps{root: root, chowns: map[string]string{}}
	raw, _ := os.ReadFile(log)
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var owner string
		for _, w := range strings.Fields(l) {
			switch {
			case strings.HasPrefix(w, "-"):
			case owner == "":
				owner = w
			default:
				st.chowns["/"+strings.TrimPrefix(strings.TrimPrefix(w, root), "/")] = owner
			}
		}
	}
	return st
}

// Defect: `ln -sfn /models/codeformer /app/weights/CodeFormer` puts the link
// inside the folder the app already has, and CodeFormer downloads at start.
func TestWeightsLinksReplaceAppFolders(t *testing.T) {
	for _, f := range dockerfiles {
		t.Run(filepath.Base(f), func(t *testing.T) {
			st := runAppSteps(t, f)
			for link, target := range map[string]string{"app/weights/CodeFormer": "models/codeformer", "app/weights/facelib": "models/facelib"} {
				fi, err := os.Lstat(filepath.Join(st.root, link))
				require.NoError(t, err)
				require.Equal(t, os.ModeSymlink, fi.Mode().Type(), "/%s is a link, not a folder with a link inside", link)
				got, err := os.Readlink(filepath.Join(st.root, link))
				require.NoError(t, err)
				assert.Equal(t, filepath.Join(st.root, target), got)
			}
			b, err := os.ReadFile(filepath.Join(st.root, "app/weights/CodeFormer/codeformer.pth"))
			require.NoError(t, err, "the weights resolve through the link")
			assert.Equal(t, "codeformer", string(b))
		})
	}
}

// composeVolumeTargets is where compose mounts named volumes, per image tag.
func composeVolumeTargets(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, profile := range []string{"cpu", "gpu"} {
		for _, svc := range loadCompose(t, profile).Services {
			for _, v := range svc.Volumes {
				if v.Type == "volume" {
					out[svc.Image] = append(out[svc.Image], v.Target)
				}
			}
		}
	}
	return out
}

// Defect: compose mounts named volumes on folders the image never creates, so
// Docker creates them root-owned and uid 1000 cannot write to them.
func TestVolumeFoldersBelongToAppUser(t *testing.T) {
	targets := composeVolumeTargets(t)
	require.Len(t, targets, 2)
	for image, dirs := range targets {
		f := "../Dockerfile." + strings.TrimPrefix(image, "djok/facecraft:")
		t.Run(filepath.Base(f), func(t *testing.T) {
			require.NotEmpty(t, dirs)
			st := runAppSteps(t, f)
			for _, d := range dirs {
				fi, err := os.Stat(filepath.Join(st.root, d))
				require.NoError(t, err, "%s is made in the image", d)
				assert.True(t, fi.IsDir(), d)
				assert.Equal(t, "1000:1000", st.chowns[d], "%s belongs to appuser", d)
			}
		})
	}
}

// Defect: `COPY --from=app --chown=1000:1000` lets the running app rewrite
// its own code. Code stays root's; uid 1000 owns only the volume folders.
func TestAppCodeNotOwnedByAppUser(t *testing.T) {
	targets := composeVolumeTargets(t)
	for _, f := range dockerfiles {
		t.Run(filepath.Base(f), func(t *testing.T) {
			n := 0
			for _, c := range stage(t, stages(t, f), "production").Commands {
				if cp, ok := c.(*instructions.CopyCommand); ok && cp.From == "app" {
					n++
					assert.Contains(t, []string{"", "0", "0:0", "root", "root:root"}, cp.Chown, "COPY --from=app --chown=%s", cp.Chown)
					assert.Empty(t, cp.Chmod, "the context's modes, no more")
				}
			}
			assert.Equal(t, 1, n, "production copies the app once")
			volumes := targets["djok/facecraft:"+strings.TrimPrefix(filepath.Ext(f), ".")]
			for p, owner := range runAppSteps(t, f).chowns {
				if strings.HasPrefix(p, "/app") {
					assert.Contains(t, volumes, p, "chown %s %s: only the volume folders are appuser's", owner, p)
				}
			}
		})
	}
}

var spdxTerm = regexp.MustCompile(`^(AND|OR|WITH|[A-Za-z0-9.+-]+)$`)

// Defect: licenses="MIT" for an image that bundles non-commercial weights,
// and created="unknown", which is not RFC 3339.
func TestLabelsLicencesAndDate(t *testing.T) {
	for _, f := range dockerfiles {
		t.Run(filepath.Base(f), func(t *testing.T) {
			prod := stage(t, stages(t, f), "production")
			labels := stageLabels(prod)
			lic := labels["org.opencontainers.image.licenses"]
			assert.NotEqual(t, "MIT", lic)
			for _, w := range strings.Fields(lic) {
				assert.Regexp(t, spdxTerm, w, "an SPDX expression")
			}
			assert.Contains(t, lic, "LicenseRef-S-Lab-1.0", "CodeFormer's weights")
			assert.Contains(t, lic, "LicenseRef-iBUG-300-W", "dlib's landmark model")

			assert.Equal(t, "${BUILD_DATE}", labels["org.opencontainers.image.created"])
			def, ok := stageArg(prod, "BUILD_DATE")
			require.True(t, ok, "ARG BUILD_DATE has a default")
			_, err := time.Parse(time.RFC3339, def)
			assert.NoError(t, err, "the default of BUILD_DATE is RFC 3339")
		})
	}

	dt, err := os.ReadFile("docker-bake.hcl")
	require.NoError(t, err)
	for _, override := range []map[string]string{nil, {"BUILD_DATE": "2026-11-27T06:13:25+00:00"}} {
		targets, _, err := bake.ReadTargets(context.Background(), []bake.File{{Name: "docker-bake.hcl", Data: dt}}, []string{"default"}, nil, nil, override, nil)
		require.NoError(t, err)
		for _, name := range []string{"cpu", "gpu"} {
			v := targets[name].Args["BUILD_DATE"]
			require.NotNil(t, v, name)
			_, err := time.Parse(time.RFC3339, *v)
			assert.NoError(t, err, "bake passes an RFC 3339 BUILD_DATE (%s)", name)
			if override != nil {
				assert.Equal(t, override["BUILD_DATE"], *v)
			}
		}
	}
}

// Defect: the 0.8 GB model layer came after the app code, so every code
// change re-sent it on push.
func TestModelsBeforeAppCode(t *testing.T) {
	for _, f := range dockerfiles {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cmds := stage(t, stages(t, f), "production").Commands
			isFrom := func(from string) func(instructions.Command) bool {
				return func(c instructions.Command) bool {
					cp, ok := c.(*instructions.CopyCommand)
					return ok && cp.From == from
				}
			}
			app := slices.IndexFunc(cmds, isFrom("app"))
			require.NotEqual(t, -1, app)
			for i, c := range cmds {
				if isFrom("model-downloader")(c) {
					assert.Less(t, i, app, "models are copied before the app code")
				}
			}
		})
	}
}
