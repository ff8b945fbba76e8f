package docker

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/buildx/bake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadCompose(t *testing.T, profile string) *types.Project {
	t.Helper()
	dt, err := os.ReadFile("compose.yaml")
	require.NoError(t, err)
	abs, err := filepath.Abs(".")
	require.NoError(t, err)
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  abs,
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: dt}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.Profiles = []string{profile} })
	require.NoError(t, err)
	return p
}

func TestComposeProfiles(t *testing.T) {
	cpu := loadCompose(t, "cpu")
	require.Contains(t, cpu.Services, "facecraft-cpu")
	assert.NotContains(t, cpu.Services, "facecraft-gpu")
	svc := cpu.Services["facecraft-cpu"]
	assert.Equal(t, "djok/facecraft:cpu", svc.Image)
	require.Len(t, svc.Ports, 1)
	assert.Equal(t, uint32(8000), svc.Ports[0].Target)
	assert.Len(t, svc.Volumes, 2, "uploads and processed output")

	gpu := loadCompose(t, "gpu")
	require.Contains(t, gpu.Services, "facecraft-gpu")
	assert.NotContains(t, gpu.Services, "facecraft-cpu")
	g := gpu.Services["facecraft-gpu"]
	assert.Equal(t, "djok/facecraft:gpu", g.Image)
	require.NotNil(t, g.Deploy)
	require.NotNil(t, g.Deploy.Resources.Reservations)
	devs := g.Deploy.Resources.Reservations.Devices
	require.Len(t, devs, 1)
	assert.Equal(t, "nvidia", devs[0].Driver)
	assert.Equal(t, types.DeviceCount(1), devs[0].Count)
	assert.Equal(t, []string{"gpu"}, devs[0].Capabilities)
}

func TestBakeTargets(t *testing.T) {
	dt, err := os.ReadFile("docker-bake.hcl")
	require.NoError(t, err)
	files := []bake.File{{Name: "docker-bake.hcl", Data: dt}}
	targets, groups, err := bake.ReadTargets(context.Background(), files, []string{"default"}, nil, nil, map[string]string{"VERSION": "1.2.3"}, nil)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"cpu", "gpu"}, groups["default"].Targets)
	for name, want := range map[string][]string{
		"cpu": {"djok/facecraft:cpu", "djok/facecraft:1.2.3-cpu"},
		"gpu": {"djok/facecraft:gpu", "djok/facecraft:1.2.3-gpu"},
	} {
		tg := targets[name]
		require.NotNil(t, tg, name)
		assert.Equal(t, want, tg.Tags, name)
		require.NotNil(t, tg.Dockerfile)
		assert.Equal(t, "Dockerfile."+name, *tg.Dockerfile)
		require.NotNil(t, tg.Target)
		assert.Equal(t, "production", *tg.Target)
		assert.Contains(t, tg.Contexts, "app")
		require.NotNil(t, tg.Args["VERSION"])
		assert.Equal(t, "1.2.3", *tg.Args["VERSION"])
		require.NotNil(t, tg.Labels["org.opencontainers.image.version"])
		assert.Equal(t, "1.2.3", *tg.Labels["org.opencontainers.image.version"])
	}
}

// No floating tag anywhere a user copies from.
func TestNoLatestTag(t *testing.T) {
	latest := regexp.MustCompile(`(?i)facecraft:latest|:latest\b`)
	for _, f := range []string{"compose.yaml", "docker-bake.hcl", "../Dockerfile.cpu", "../Dockerfile.gpu", "../README.md", "README.md"} {
		dt, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.False(t, latest.Match(dt), "%s mentions a latest tag", f)
	}
}
