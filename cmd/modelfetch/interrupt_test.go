package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// interruptJourney is a manifest of one small model served at once and
// three whose server sends a little, then stalls: a run of it is mid-download
// on three artifacts, with one installed, once stalled reaches 3.
func interruptJourney(t *testing.T) (manifest string, stalled *atomic.Int32) {
	url, small, stalled := stallServer(t)
	sum := sha256.Sum256(small)
	var m strings.Builder
	fmt.Fprintf(&m, "version = 1\n[models.small]\npath = \"small.bin\"\nsha256 = %q\nsize = %d\nurls = [\"%s/small.bin\"]\n",
		hex.EncodeToString(sum[:]), len(small), url)
	for _, n := range []string{"a", "b", "c"} {
		fmt.Fprintf(&m, "[models.%s]\npath = \"sub/%s.bin\"\nsha256 = %q\nsize = 3000000\nurls = [\"%s/%s.bin\"]\n",
			n, n, strings.Repeat(n, 64), url, n) // three digests: three downloads at once
	}
	dir := t.TempDir()
	manifest = filepath.Join(dir, "models.toml")
	require.NoError(t, os.WriteFile(manifest, []byte(m.String()), 0o644))
	return manifest, stalled
}

// stallServer serves small at /small.bin; any other path gets the first
// 100 kB of 3 MB, then nothing until the client goes (stalled counts them).
func stallServer(t *testing.T) (url string, small []byte, stalled *atomic.Int32) {
	stalled = &atomic.Int32{}
	small = bytes.Repeat([]byte("s"), 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small.bin" {
			w.Write(small)
			return
		}
		w.Header().Set("Content-Length", "3000000")
		w.Write(bytes.Repeat([]byte("x"), 100_000))
		w.(http.Flusher).Flush()
		stalled.Add(1)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, small, stalled
}

// interruptRun runs modelfetch with args on the journey's manifest, sends
// SIGINT once the three downloads are stalled, and returns the exit status,
// stdout and stderr.
func interruptRun(t *testing.T, manifest string, stalled *atomic.Int32, args ...string) (int, string, string) {
	return signalRun(t, manifest, stalled, syscall.SIGINT, args...)
}

// signalRun is interruptRun with sig for the signal.
func signalRun(t *testing.T, manifest string, stalled *atomic.Int32, sig syscall.Signal, args ...string) (int, string, string) {
	dir := filepath.Dir(manifest)
	cmd := exec.Command("modelfetch", append([]string{"-m", manifest, "--out", filepath.Join(dir, "out"),
		"--cache", filepath.Join(dir, "cache")}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	for deadline := time.Now().Add(10 * time.Second); stalled.Load() < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the downloads did not start:\n%s", stderr.String())
		}
	}
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(sig))
	var ee *exec.ExitError
	require.ErrorAs(t, cmd.Wait(), &ee, stderr.String())
	return ee.ExitCode(), stdout.String(), stderr.String()
}

// Ctrl-C with three artifacts downloading and one installed: one line says
// the run was interrupted, the summary says "interrupted" (not "failed") of
// the three and "installed" of the fourth, exit 130 (docs/DESIGN.md), and
// the install root holds the installed file alone: no temp file, nothing
// under the name of one not finished.
func TestInterruptIsSaidOnce(t *testing.T) {
	manifest, stalled := interruptJourney(t)
	code, _, stderr := interruptRun(t, manifest, stalled, "--progress", "plain")
	assert.Equal(t, 130, code, stderr)
	errs := regexp.MustCompile(`(?m)^modelfetch: error: .*$`).FindAllString(stderr, -1)
	assert.Equal(t, []string{"modelfetch: error: interrupted (SIGINT): 3 of 4 artifacts not finished, none left half-written"}, errs, stderr)
	assert.NotContains(t, stderr, "failed")
	for _, row := range []string{`small +5\.0 kB +installed `, `a +3\.0 MB +interrupted +- `, `b +3\.0 MB +interrupted +- `, `c +3\.0 MB +interrupted +- `} {
		assert.Regexp(t, regexp.MustCompile(`(?m)^`+row), stderr)
	}
	out := filepath.Join(filepath.Dir(manifest), "out")
	assert.Equal(t, []string{"small.bin"}, installedFiles(t, out))
	assert.NoDirExists(t, filepath.Join(out, "sub"), "no folder made for the files not finished is left")
}

// The same with --json: stdout is one document that parses, with the three
// "interrupted", the fourth "installed", exit_code 130 and the interrupt in
// errors[].
func TestInterruptJSONIsOneDocument(t *testing.T) {
	manifest, stalled := interruptJourney(t)
	code, stdout, stderr := interruptRun(t, manifest, stalled, "--json")
	assert.Equal(t, 130, code, stderr)
	var doc struct {
		OK        bool `json:"ok"`
		ExitCode  int  `json:"exit_code"`
		Artifacts []struct {
			Name, Status string
			Error        *struct{ Kind string }
		}
		Errors []struct{ Message string }
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	require.NoError(t, dec.Decode(&doc), stdout)
	var more any
	assert.ErrorIs(t, dec.Decode(&more), io.EOF, "one document:\n%s", stdout)
	assert.False(t, doc.OK)
	assert.Equal(t, 130, doc.ExitCode)
	statuses := map[string]string{}
	for _, a := range doc.Artifacts {
		statuses[a.Name] = a.Status
		if a.Status == "interrupted" {
			require.NotNil(t, a.Error, a.Name)
			assert.Equal(t, "interrupted", a.Error.Kind)
		}
	}
	assert.Equal(t, map[string]string{"small": "installed", "a": "interrupted", "b": "interrupted", "c": "interrupted"}, statuses)
	require.Len(t, doc.Errors, 1, stdout)
	assert.Equal(t, "interrupted (SIGINT): 3 of 4 artifacts not finished, none left half-written", doc.Errors[0].Message)
	assert.Equal(t, 1, strings.Count(stderr, "modelfetch: error: "), stderr)
	assert.Equal(t, []string{"small.bin"}, installedFiles(t, filepath.Join(filepath.Dir(manifest), "out")))
}

// installedFiles lists the files under root, relative to it.
func installedFiles(t *testing.T, root string) []string {
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files = append(files, rel)
		return nil
	})
	if !errors.Is(err, os.ErrNotExist) {
		require.NoError(t, err)
	}
	return files
}

// SIGTERM (docker stop) is 143 in the JSON document as in the exit status:
// the document's exit_code once said 130 for it.
func TestTerminateJSONSays143(t *testing.T) {
	manifest, stalled := interruptJourney(t)
	code, stdout, stderr := signalRun(t, manifest, stalled, syscall.SIGTERM, "--json")
	assert.Equal(t, 143, code, stderr)
	var doc struct {
		ExitCode int `json:"exit_code"`
		Errors   []struct{ Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	assert.Equal(t, 143, doc.ExitCode, stdout)
	require.Len(t, doc.Errors, 1, stdout)
	assert.Equal(t, "terminated (SIGTERM): 3 of 4 artifacts not finished, none left half-written", doc.Errors[0].Message)
}
