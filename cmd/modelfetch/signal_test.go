package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInterruptExits130AndCleansUp sends SIGINT and SIGTERM mid-download: the
// exit status is 130, promptly, and no temp file is left in the install root.
func TestInterruptExits130AndCleansUp(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			started := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10000000")
				w.Write(bytes.Repeat([]byte("x"), 100000))
				w.(http.Flusher).Flush()
				select {
				case started <- struct{}{}:
				default:
				}
				<-r.Context().Done()
			}))
			defer srv.Close()
			dir := t.TempDir()
			mf := filepath.Join(dir, "models.toml")
			require.NoError(t, os.WriteFile(mf, []byte(fmt.Sprintf("version = 1\n[models.m]\npath = \"sub/m.bin\"\nsha256 = \"%s\"\nsize = 10000000\nurls = [\"%s/m.bin\"]\n", strings.Repeat("a", 64), srv.URL)), 0o644))
			out := filepath.Join(dir, "out")
			cmd := exec.Command("modelfetch", "-m", mf, "--out", out, "--cache", filepath.Join(dir, "cache"), "--progress", "plain")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("download did not start")
			}
			time.Sleep(100 * time.Millisecond)
			sent := time.Now()
			require.NoError(t, cmd.Process.Signal(sig))
			err := cmd.Wait()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, stderr.String())
			assert.Equal(t, 130, ee.ExitCode(), stderr.String())
			assert.Less(t, time.Since(sent), 5*time.Second, "exits promptly")
			var files []string
			filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					files = append(files, p)
				}
				return nil
			})
			assert.Empty(t, files, "nothing left in the install root")
		})
	}
}
