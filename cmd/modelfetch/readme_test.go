package main

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// readmeSynopsis returns the README's command synopsis (the first block
// under "## Commands"), one entry per command, continuation lines joined.
func readmeSynopsis(t *testing.T) []string {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "\n## Commands\n")
	require.True(t, ok, "README has a Commands section")
	_, rest, ok = strings.Cut(rest, "```\n")
	require.True(t, ok, "the Commands section opens with the synopsis")
	block, _, _ := strings.Cut(rest, "```")
	var entries []string
	for _, line := range strings.Split(block, "\n") {
		switch {
		case strings.HasPrefix(line, "modelfetch "):
			entries = append(entries, line)
		case strings.TrimSpace(line) != "":
			require.NotEmpty(t, entries, "the synopsis starts with a command: %q", line)
			entries[len(entries)-1] += " " + strings.TrimSpace(line)
		}
	}
	return entries
}

var (
	synopsisWord = regexp.MustCompile(`^[a-z]+$`)
	synopsisFlag = regexp.MustCompile(`(?:^|[\s\[|(])(--?[a-z][a-z-]*)`)
)

// TestReadmeSynopsisMatchesHelp holds the README's synopsis to the commands
// and flags --help lists: each command is there with exactly its flags.
func TestReadmeSynopsisMatchesHelp(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard, env{})
	root.InitDefaultCompletionCmd()
	root.InitDefaultVersionFlag()
	documented := map[string]bool{}
	for _, entry := range readmeSynopsis(t) {
		words := strings.Fields(entry)[1:]
		var path []string
		if len(words) > 0 && words[0] == "[fetch]" {
			path, words = []string{"fetch"}, words[1:]
		}
		for len(words) > 0 && synopsisWord.MatchString(words[0]) {
			path, words = append(path, words[0]), words[1:]
		}
		cmd, _, err := root.Find(path)
		require.NoError(t, err, entry)
		name := strings.Join(path, " ")
		documented[name] = true
		rest := strings.Join(words, " ")
		if name == "version" {
			rest = strings.Replace(rest, "(or --version)", "", 1)
			assert.NotNil(t, root.Flags().Lookup("version"), "--version")
		}
		assert.Equal(t, helpFlags(cmd), readmeFlags(cmd, rest), "README's flags of %q against its --help", name)
	}
	var leaves func(*cobra.Command)
	leaves = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			if sub.HasSubCommands() && sub.Name() != "completion" {
				leaves(sub)
				continue
			}
			_, path, _ := strings.Cut(sub.CommandPath(), " ")
			assert.True(t, documented[path], "README's synopsis has %q", path)
		}
	}
	leaves(root)
}

// helpFlags are the flags cmd's --help lists, by their long names, without
// --help itself.
func helpFlags(cmd *cobra.Command) []string {
	var out []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Name != "help" {
			out = append(out, "--"+f.Name)
		}
	})
	cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Name != "help" && !slices.Contains(out, "--"+f.Name) {
			out = append(out, "--"+f.Name)
		}
	})
	slices.Sort(out)
	return out
}

// readmeFlags are the flags a synopsis entry names, by their long names
// ("-m" is "--manifest"; a shorthand cmd does not have stays as written).
func readmeFlags(cmd *cobra.Command, s string) []string {
	var out []string
	for _, m := range synopsisFlag.FindAllStringSubmatch(s, -1) {
		name := m[1]
		if short, ok := strings.CutPrefix(name, "-"); ok && !strings.HasPrefix(short, "-") {
			if f := cmd.Flags().ShorthandLookup(short); f != nil {
				name = "--" + f.Name
			}
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// --help says what the README says of --offline and --update.
func TestHelpSaysWhatTheReadmeSays(t *testing.T) {
	var out bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"lock", "--help"}, &out, io.Discard, env{}))
	assert.Contains(t, out.String(), "--update[=NAME]")
	assert.NotContains(t, out.String(), "NAME[=*]")
	out.Reset()
	require.Equal(t, 0, run(t.Context(), []string{"--help"}, &out, io.Discard, env{}))
	offline := regexp.MustCompile(`(?m)^ +--offline .*$`).FindString(out.String())
	assert.Contains(t, offline, "file: sources", "file: sources still install offline")
}

// The README's real job installs inside the repository: git ignores it.
func TestReadmeRealJobIsIgnored(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	i := strings.Index(string(b), "\n./modelfetch --manifest models.toml --out ")
	require.GreaterOrEqual(t, i, 0, "README has the real job's command")
	line, _, _ := strings.Cut(string(b)[i+1:], "\n")
	ignore, err := os.ReadFile("../../.gitignore")
	require.NoError(t, err)
	patterns := strings.Split(string(ignore), "\n")
	fields := strings.Fields(line)
	for j, f := range fields {
		var dir string
		switch {
		case f == "--out" && j+1 < len(fields):
			dir = fields[j+1]
		case f == "--dir" && j+1 < len(fields):
			_, dir, _ = strings.Cut(fields[j+1], "=")
		default:
			continue
		}
		dir = "/" + filepath.Clean(dir) + "/"
		assert.Contains(t, patterns, dir, ".gitignore ignores %s, where the README's real job installs", dir)
	}
}

// TestReadmeOwnManifest follows "Your own manifest": the hand-written entry
// parses, `lock -m` records its sha256 and size as two new lines, and
// `-m … --out ./models` installs it there.
func TestReadmeOwnManifest(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(b), "\n## Your own manifest\n")
	require.True(t, ok, "README has the section")
	_, rest, ok := strings.Cut(section, "```toml\n")
	require.True(t, ok, "with a hand-written entry")
	block, _, _ := strings.Cut(rest, "```")
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "   "))
	}
	text := strings.Join(lines, "\n")
	const upstream = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net_human_seg.onnx"
	require.Contains(t, text, upstream)

	data := bytes.Repeat([]byte("u2net "), 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "models.toml")
	text = strings.Replace(text, upstream, srv.URL+"/u2net_human_seg.onnx", 1)
	require.NoError(t, os.WriteFile(file, []byte(text), 0o644))
	e := env{Cache: filepath.Join(dir, "cache"), Home: dir}

	var stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"lock", "-m", file}, io.Discard, &stderr, e), stderr.String())
	locked, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, len(strings.Split(text, "\n"))+2, len(strings.Split(string(locked), "\n")), "two lines added:\n%s", locked)
	assert.Contains(t, string(locked), fmt.Sprintf("size = %d\n", len(data)))

	require.Equal(t, 0, run(t.Context(), []string{"-m", file, "--out", filepath.Join(dir, "models")}, io.Discard, &stderr, e), stderr.String())
	got, err := os.ReadFile(filepath.Join(dir, "models", "u2net_human_seg.onnx"))
	require.NoError(t, err)
	assert.Equal(t, data, got)

	// With add instead: the manifest is made and locked in one step.
	added := filepath.Join(t.TempDir(), "models.toml")
	args := []string{"add", "u2net-human-seg", srv.URL + "/u2net_human_seg.onnx", "-m", added}
	require.Equal(t, 0, run(t.Context(), args, io.Discard, &stderr, e), stderr.String())
	text2, err := os.ReadFile(added)
	require.NoError(t, err)
	assert.Contains(t, string(text2), fmt.Sprintf("size = %d\n", len(data)))
	out := filepath.Join(filepath.Dir(added), "models")
	require.Equal(t, 0, run(t.Context(), []string{"-m", added, "--out", out}, io.Discard, &stderr, e), stderr.String())
	got, err = os.ReadFile(filepath.Join(out, "u2net_human_seg.onnx"))
	require.NoError(t, err)
	assert.Equal(t, data, got)
}
