//go:build unix

package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
)

// A SIGTERM while the Docker credential helper of a registry mirror hangs
// (issue 26): the run ends within a second, 143, and the helper's process
// group (a forked child too) is gone: nothing outlives modelfetch.
func TestSignalWhileCredentialHelperHangs(t *testing.T) {
	data := []byte("model bytes")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(data) }))
	defer origin.Close()
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")

	for name, args := range map[string][]string{
		"fetch":       {"--mirror", "oci+http://" + host + "/team/models"},
		"mirror push": {"mirror", "push", "oci+http://" + host + "/team/models"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			pids := filepath.Join(dir, "pids")
			helper := fmt.Sprintf("#!/bin/sh\nsleep 60 & echo $! >> %s; echo $$ >> %s; sleep 60\n", pids, pids)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-credential-hang"), []byte(helper), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credHelpers":{"`+host+`":"hang"}}`), 0o600))
			mf := filepath.Join(dir, "models.toml")
			require.NoError(t, os.WriteFile(mf, []byte(fmt.Sprintf("version = 1\n[models.m]\npath = \"m.bin\"\nsha256 = \"%s\"\nsize = %d\nurls = [\"%s/m.bin\"]\n",
				digest.Of(data), len(data), origin.URL)), 0o644))
			out := filepath.Join(dir, "out")
			if name == "mirror push" {
				require.NoError(t, os.MkdirAll(out, 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(out, "m.bin"), data, 0o644))
			}
			cmd := exec.Command("modelfetch", append([]string{"-m", mf, "--out", out, "--cache", filepath.Join(dir, "cache")}, args...)...)
			cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dir, "PATH="+dir+":"+os.Getenv("PATH"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			var started []int
			require.Eventually(t, func() bool {
				b, _ := os.ReadFile(pids)
				started = started[:0]
				for _, f := range strings.Fields(string(b)) {
					n, _ := strconv.Atoi(f)
					started = append(started, n)
				}
				return len(started) == 2
			}, 10*time.Second, 10*time.Millisecond, "the helper did not start")
			sent := time.Now()
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			err := cmd.Wait()
			took := time.Since(sent)
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, stderr.String())
			assert.Equal(t, 143, ee.ExitCode(), stderr.String())
			assert.Less(t, took, time.Second, "the run ends within a second of SIGTERM")
			for _, pid := range started {
				assert.Eventually(t, func() bool { return !processAlive(pid) }, 2*time.Second, 20*time.Millisecond, "helper pid %d outlives modelfetch", pid)
			}
		})
	}
}

// processAlive reports whether pid is a live process (a zombie is not).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}
