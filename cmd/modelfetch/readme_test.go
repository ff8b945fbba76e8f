package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeCommands returns the lines of the README's first sh block.
func readmeCommands(t *testing.T) []string {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "```sh\n")
	require.True(t, ok, "README has an sh block")
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	return strings.Split(strings.TrimSpace(block), "\n")
}

// TestReadmeBuildsAStaticBinary runs the build half of the README's first
// command, as on a machine where cgo is available, and checks the binary has
// no program interpreter: it runs in a FROM scratch stage, as the README says.
func TestReadmeBuildsAStaticBinary(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("builds the binary (linux)")
	}
	build, demo, ok := strings.Cut(readmeCommands(t)[0], " && ")
	require.True(t, ok, "build && run")
	assert.Equal(t, "./modelfetch --manifest examples/demo/models.toml", demo)
	out := filepath.Join(t.TempDir(), "modelfetch")
	inTemp := strings.Replace(build, "-o modelfetch ", "-o "+out+" ", 1)
	require.NotEqual(t, build, inTemp, "the README builds ./modelfetch")
	cmd := exec.Command("sh", "-c", inTemp)
	cmd.Dir = "../.."
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CGO_ENABLED=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if _, err := exec.LookPath("gcc"); err == nil {
		cmd.Env = append(cmd.Env, "CC=gcc") // cgo available, as on a developer's machine
	}
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	f, err := elf.Open(out)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "%s links dynamically: a FROM scratch stage could not run it", build)
	}
}
