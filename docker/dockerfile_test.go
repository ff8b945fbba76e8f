// Package docker checks the Facecraft image definitions offline: both
// Dockerfiles through BuildKit's own parser and linter, the compose file
// through compose-go, the bake file through buildx's bake loader, and the
// exact modelfetch command line of the model stage against a local server.
// It is a separate module so BuildKit and friends stay out of the binary.
package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var dockerfiles = []string{"../Dockerfile.cpu", "../Dockerfile.gpu"}

// offlineResolver answers image config lookups without a registry: every
// base image is a plain linux/amd64 image.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	cfg := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}`
	return ref, digest.FromString(ref), []byte(cfg), nil
}

func TestDockerfilesLintClean(t *testing.T) {
	for _, f := range dockerfiles {
		t.Run(filepath.Base(f), func(t *testing.T) {
			dt, err := os.ReadFile(f)
			require.NoError(t, err)
			for _, w := range lint(t, f, dt) {
				t.Errorf("%s", w)
			}
		})
	}
}

// TestLintHarnessCatchesProblems proves the lint run above is not vacuous.
func TestLintHarnessCatchesProblems(t *testing.T) {
	bad := "FROM scratch as Base\nENV A 1\nCMD echo hi\n"
	ws := lint(t, "bad.Dockerfile", []byte(bad))
	joined := strings.Join(ws, "\n")
	for _, rule := range []string{"FromAsCasing", "StageNameCasing", "LegacyKeyValueFormat", "JSONArgsRecommended"} {
		assert.Contains(t, joined, rule)
	}
}

// lint runs BuildKit's Dockerfile checks with an offline image resolver and
// returns one line per warning (a build error counts as one).
func lint(t *testing.T, f string, dt []byte) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := llb.Local("dockerfile")
	def, err := src.Marshal(ctx)
	require.NoError(t, err)
	sm := llb.NewSourceMap(&src, filepath.Base(f), "Dockerfile", dt)
	sm.Definition = def
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		SourceMap:    sm,
		MetaResolver: offlineResolver{},
	})
	require.NoError(t, err)
	var out []string
	if res.Error != nil {
		out = append(out, f+": build error: "+res.Error.Message)
	}
	for _, w := range res.Warnings {
		line := int32(0)
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = w.Location.Ranges[0].Start.Line
		}
		out = append(out, fmt.Sprintf("%s:%d: %s: %s", f, line, w.RuleName, w.Detail))
	}
	return out
}

// stages parses a Dockerfile into BuildKit's instructions, expanded only as
// far as mounts need.
func stages(t *testing.T, f string) []instructions.Stage {
	t.Helper()
	fh, err := os.Open(f)
	require.NoError(t, err)
	defer fh.Close()
	ast, err := parser.Parse(fh)
	require.NoError(t, err)
	st, _, err := instructions.Parse(ast.AST, nil)
	require.NoError(t, err)
	same := func(w string) (string, error) { return w, nil }
	for _, s := range st {
		for _, c := range s.Commands {
			if r, ok := c.(*instructions.RunCommand); ok {
				require.NoError(t, r.Expand(same))
			}
		}
	}
	return st
}

func stage(t *testing.T, st []instructions.Stage, name string) instructions.Stage {
	t.Helper()
	for _, s := range st {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stage %q", name)
	return instructions.Stage{}
}

// ModelfetchArgs is the documented model-downloader invocation.
var ModelfetchArgs = []string{"/modelfetch", "--manifest", "/models.toml", "--out", "/models", "--cache", "/cache", "--progress", "plain"}

func TestDockerfileStructure(t *testing.T) {
	for _, f := range dockerfiles {
		t.Run(filepath.Base(f), func(t *testing.T) {
			st := stages(t, f)
			var names []string
			for _, s := range st {
				names = append(names, s.Name)
			}
			assert.Equal(t, []string{"modelfetch", "model-downloader", "models", "builder", "production"}, names)

			// Every COPY --from and RUN --mount from= names an earlier stage,
			// or the named context "app".
			seen := map[string]bool{}
			for _, s := range st {
				for _, c := range s.Commands {
					switch c := c.(type) {
					case *instructions.CopyCommand:
						if c.From != "" {
							assert.True(t, seen[c.From] || c.From == "app", "%s: COPY --from=%s", s.Name, c.From)
						}
					case *instructions.RunCommand:
						for _, m := range instructions.GetMounts(c) {
							if m.From != "" {
								assert.True(t, seen[m.From], "%s: --mount from=%s", s.Name, m.From)
							}
						}
					}
				}
				seen[s.Name] = true
			}

			// modelfetch: static and reproducible.
			build := runs(stage(t, st, "modelfetch"))
			assert.True(t, slices.ContainsFunc(build, func(r *instructions.RunCommand) bool {
				l := strings.Join(r.CmdLine, " ")
				return strings.Contains(l, "CGO_ENABLED=0 go build -trimpath") && hasMount(r, instructions.MountTypeCache, "/root/.cache/go-build")
			}), "static -trimpath build with the Go build cache")

			// model-downloader: from scratch, exactly the documented command.
			md := stage(t, st, "model-downloader")
			assert.Equal(t, "scratch", md.BaseName)
			mr := runs(md)
			require.Len(t, mr, 1)
			assert.False(t, mr[0].PrependShell, "exec form: there is no shell in scratch")
			assert.Equal(t, ModelfetchArgs, mr[0].CmdLine)
			var cache *instructions.Mount
			for _, m := range instructions.GetMounts(mr[0]) {
				if m.Type == instructions.MountTypeCache {
					cache = m
				}
			}
			require.NotNil(t, cache, "a cache mount for the modelfetch cache")
			assert.Equal(t, "/cache", cache.Target)
			assert.Equal(t, instructions.MountSharingLocked, cache.CacheSharing)
			assert.True(t, hasMount(mr[0], instructions.MountTypeSecret, ""), "optional hub token as a secret")
			// A mirror (issue 12): a build argument that is empty by default,
			// and the registry's credentials as an optional secret, where
			// DOCKER_CONFIG points.
			assert.True(t, hasMount(mr[0], instructions.MountTypeSecret, "/run/secrets/docker/config.json"), "registry credentials as a secret")
			var mirrors *instructions.KeyValuePairOptional
			dockerConfig := ""
			for _, c := range md.Commands {
				switch c := c.(type) {
				case *instructions.ArgCommand:
					for i, a := range c.Args {
						if a.Key == "MODELFETCH_MIRRORS" {
							mirrors = &c.Args[i]
						}
					}
				case *instructions.EnvCommand:
					for _, kv := range c.Env {
						if kv.Key == "DOCKER_CONFIG" {
							dockerConfig = kv.Value
						}
					}
				}
			}
			if assert.NotNil(t, mirrors, "ARG MODELFETCH_MIRRORS") && assert.NotNil(t, mirrors.Value) {
				assert.Contains(t, []string{"", `""`}, *mirrors.Value, "no mirror unless asked for")
			}
			assert.Equal(t, "/run/secrets/docker", dockerConfig)
			for _, m := range instructions.GetMounts(mr[0]) {
				if m.Type == instructions.MountTypeSecret {
					assert.False(t, m.Required, "a build without secrets works")
				}
			}

			// models and production copy the trees with a numeric owner.
			for _, name := range []string{"models", "production"} {
				n := 0
				for _, c := range stage(t, st, name).Commands {
					if cp, ok := c.(*instructions.CopyCommand); ok && cp.From == "model-downloader" {
						n++
						assert.Equal(t, "1000:1000", cp.Chown, "%s: %v", name, cp.SourcePaths)
					}
				}
				assert.Equal(t, 2, n, "%s copies /models and the .u2net folder", name)
			}

			prod := stage(t, st, "production")
			var user string
			var health *instructions.HealthCheckCommand
			labels := map[string]string{}
			env := map[string]string{}
			for _, c := range prod.Commands {
				switch c := c.(type) {
				case *instructions.UserCommand:
					user = c.User
				case *instructions.HealthCheckCommand:
					health = c
				case *instructions.LabelCommand:
					for _, kv := range c.Labels {
						labels[kv.Key] = kv.Value
					}
				case *instructions.EnvCommand:
					for _, kv := range c.Env {
						env[kv.Key] = kv.Value
					}
				}
			}
			assert.Equal(t, "1000:1000", user, "production runs as appuser, numerically")
			require.NotNil(t, health)
			assert.GreaterOrEqual(t, health.Health.StartPeriod, 180*time.Second)
			for _, k := range []string{"title", "description", "version", "revision", "created", "source", "licenses"} {
				assert.Contains(t, labels, "org.opencontainers.image."+k)
			}
			assert.Equal(t, "/home/appuser/.u2net", env["U2NET_HOME"])

			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			assert.NotContains(t, string(raw), ":latest")
		})
	}
}

func runs(s instructions.Stage) []*instructions.RunCommand {
	var out []*instructions.RunCommand
	for _, c := range s.Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			out = append(out, r)
		}
	}
	return out
}

func hasMount(r *instructions.RunCommand, typ instructions.MountType, target string) bool {
	for _, m := range instructions.GetMounts(r) {
		if m.Type == typ && (target == "" || m.Target == target) {
			return true
		}
	}
	return false
}

func TestBaseImages(t *testing.T) {
	for f, want := range map[string][]string{
		"../Dockerfile.cpu": {"ARG PYTHON_IMAGE=python:3.11-slim-bookworm"},
		"../Dockerfile.gpu": {"ARG PYTHON_IMAGE=python:3.11-slim-bookworm"},
	} {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, w := range want {
			assert.Contains(t, string(raw), "\n"+w+"\n", f)
		}
		assert.Contains(t, string(raw), "torch==2.0.1", f)
		assert.Contains(t, string(raw), "torchvision==0.15.2", f)
	}
	cpu, _ := os.ReadFile("../Dockerfile.cpu")
	assert.Contains(t, string(cpu), "--extra-index-url https://download.pytorch.org/whl/cpu")
	gpu, _ := os.ReadFile("../Dockerfile.gpu")
	assert.Contains(t, string(gpu), "--extra-index-url https://download.pytorch.org/whl/cu118")
}
