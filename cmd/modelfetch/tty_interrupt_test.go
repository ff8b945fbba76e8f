//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ctrlC types the terminal's interrupt key once want downloads are stalled;
// the terminal echoes "^C" where the cursor is, and the run must then say
// what it has to say from the start of a line.
func ctrlC(t *testing.T, r *ttyRun, stalled *atomic.Int32, want int32) {
	for deadline := time.Now().Add(10 * time.Second); stalled.Load() < want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.cmd.Process.Kill()
			t.Fatalf("the downloads did not start; screen:\n%s", r.vt)
		}
	}
	time.Sleep(100 * time.Millisecond)
	_, err := io.WriteString(r.tty, "\x03")
	require.NoError(t, err)
}

// echoed: the terminal did echo the interrupt key (else the test shows
// nothing).
func echoed(t *testing.T, r *ttyRun) {
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Contains(t, r.raw.String(), "^C", "the terminal echoes ^C")
}

// Ctrl-C with no bars on the screen (plain progress, none): the summary's
// header starts its own line, not after the terminal's "^C".
func TestInterruptEchoLeavesTheSummaryWhole(t *testing.T) {
	for _, progress := range []string{"plain", "none"} {
		t.Run(progress, func(t *testing.T) {
			manifest, stalled := interruptJourney(t)
			dir := filepath.Dir(manifest)
			v := newVT(100)
			r := startCmdInTTY(t, 100, dir, v, "-m", manifest, "--out", filepath.Join(dir, "out"), "--progress", progress)
			ctrlC(t, r, stalled, 3)
			assert.Equal(t, 130, r.wait())
			echoed(t, r)
			screen := v.screen()
			header := -1
			for i, row := range screen {
				if strings.Contains(row, "artifact  size") {
					header = i
				}
			}
			require.GreaterOrEqual(t, header, 0, "a summary:\n%s", v)
			assert.True(t, strings.HasPrefix(screen[header], "artifact  size  "), "the header starts its line: %q\n%s", screen[header], v)
			assert.Equal(t, "modelfetch: error: interrupted (SIGINT): 3 of 4 artifacts not finished, none left half-written", screen[len(screen)-1])
		})
	}
}

// The same for an error printed alone: lock's "interrupted".
func TestInterruptEchoLeavesTheErrorWhole(t *testing.T) {
	url, _, stalled := stallServer(t)
	dir := t.TempDir()
	mf := filepath.Join(dir, "models.toml")
	require.NoError(t, os.WriteFile(mf, []byte(fmt.Sprintf("version = 1\n[models.m]\npath = \"m.bin\"\nurls = [\"%s/m.bin\"]\n", url)), 0o644))
	v := newVT(100)
	r := startCmdInTTY(t, 100, dir, v, "lock", "-m", mf, "--progress", "none")
	ctrlC(t, r, stalled, 1)
	assert.Equal(t, 130, r.wait())
	echoed(t, r)
	assert.Equal(t, []string{"modelfetch: error: interrupted (SIGINT)"}, v.screen(), "%s", v)
}

// --json on a terminal: the document starts a line of its own, whether the
// terminal is also stderr (the echo is erased there) or not (a newline,
// JSON's whitespace, before the document).
func TestInterruptEchoLeavesTheJSONWhole(t *testing.T) {
	for _, stderrTTY := range []bool{true, false} {
		t.Run(fmt.Sprintf("stderr-tty=%v", stderrTTY), func(t *testing.T) {
			manifest, stalled := interruptJourney(t)
			dir := filepath.Dir(manifest)
			v := newVT(100)
			cmd := ttyCmd(dir, "-m", manifest, "--out", filepath.Join(dir, "out"), "--json")
			var stderr strings.Builder
			if !stderrTTY {
				cmd.Stderr = &stderr
			}
			r := runInTTY(t, 100, cmd, v)
			ctrlC(t, r, stalled, 3)
			assert.Equal(t, 130, r.wait())
			echoed(t, r)
			screen := v.screen()
			start := slices.IndexFunc(screen, func(row string) bool { return strings.Contains(row, "{") })
			require.GreaterOrEqual(t, start, 0, "a document:\n%s", v)
			assert.Equal(t, "{", screen[start], "the document starts its line\n%s", v)
			var doc map[string]any
			raw := strings.Join(screen[start:], "\n")
			raw = raw[:strings.LastIndex(raw, "}")+1]
			assert.NoError(t, json.Unmarshal([]byte(raw), &doc), raw)
		})
	}
}
