package main

import (
	"bytes"
	"context"
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
// exit status is 130 for SIGINT and 143 for SIGTERM (as shells report them),
// promptly, and no temp file is left in the install root.
func TestInterruptExits130AndCleansUp(t *testing.T) {
	for sig, want := range map[syscall.Signal]struct {
		code int
		msg  string
	}{syscall.SIGINT: {130, "interrupted (SIGINT)"}, syscall.SIGTERM: {143, "terminated (SIGTERM)"}} {
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
			assert.Equal(t, want.code, ee.ExitCode(), stderr.String())
			assert.Contains(t, stderr.String(), "modelfetch: error: "+want.msg+": 1 of 1 artifact not finished, none left half-written\n")
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

// hangingServer sends a little of a large body, then holds the connection.
func hangingServer(t *testing.T, started chan<- struct{}) *httptest.Server {
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
	t.Cleanup(srv.Close)
	return srv
}

// TestSecondInterruptEndsAtOnce: a run that does not end after the first
// SIGINT (here its stderr is a full pipe nobody reads, so the summary
// blocks) is ended by the second one, at once, with status 130.
func TestSecondInterruptEndsAtOnce(t *testing.T) {
	started := make(chan struct{}, 1)
	srv := hangingServer(t, started)
	dir := t.TempDir()
	mf := filepath.Join(dir, "models.toml")
	require.NoError(t, os.WriteFile(mf, []byte(fmt.Sprintf("version = 1\n[models.m]\npath = \"m.bin\"\nsha256 = \"%s\"\nsize = 10000000\nurls = [\"%s/m.bin\"]\n", strings.Repeat("a", 64), srv.URL)), 0o644))

	// A pipe filled to the brim: the child's first write to stderr blocks.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	fd := int(w.Fd())
	require.NoError(t, syscall.SetNonblock(fd, true))
	for {
		if _, err := syscall.Write(fd, make([]byte, 4096)); err != nil {
			require.ErrorIs(t, err, syscall.EAGAIN)
			break
		}
	}
	require.NoError(t, syscall.SetNonblock(fd, false))

	cmd := exec.Command("modelfetch", "-m", mf, "--out", filepath.Join(dir, "out"), "--no-cache", "--progress", "none")
	cmd.Stderr = w
	require.NoError(t, cmd.Start())
	w.Close()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("download did not start")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		t.Fatalf("the run was meant to hang on its full stderr after the first SIGINT, but ended: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 130, ee.ExitCode())
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatal("a second SIGINT did not end the process")
	}
}

// TestSignalWatch: the first signal cancels with its cause, the second calls
// exit with its status.
func TestSignalWatch(t *testing.T) {
	for _, tt := range []struct {
		first, second os.Signal
		cancel, exit  int
	}{
		{first: syscall.SIGINT, second: syscall.SIGINT, cancel: 130, exit: 130},
		{first: syscall.SIGTERM, second: syscall.SIGTERM, cancel: 143, exit: 143},
		{first: syscall.SIGTERM, second: syscall.SIGINT, cancel: 143, exit: 130},
	} {
		sigs := make(chan os.Signal, 2)
		exits := make(chan int, 1)
		ctx, stop := withSignals(context.Background(), sigs, func(code int) { exits <- code })
		sigs <- tt.first
		<-ctx.Done()
		assert.Equal(t, tt.cancel, exitCode(ctx, ctx.Err()))
		sigs <- tt.second
		assert.Equal(t, tt.exit, <-exits)
		stop()
	}
	ctx, stop := withSignals(context.Background(), make(chan os.Signal), func(int) { t.Error("exit called") })
	stop()
	assert.Equal(t, 130, exitCode(ctx, ctx.Err()), "canceled without a signal: interrupted")
}

// TestLockInterrupted: lock stops on SIGINT with 130 and says why, and
// leaves the manifest as it was.
func TestLockInterrupted(t *testing.T) {
	started := make(chan struct{}, 1)
	srv := hangingServer(t, started)
	dir := t.TempDir()
	mf := filepath.Join(dir, "models.toml")
	text := fmt.Sprintf("version = 1\n[models.m]\npath = \"m.bin\"\nurls = [\"%s/m.bin\"]\n", srv.URL)
	require.NoError(t, os.WriteFile(mf, []byte(text), 0o644))
	cmd := exec.Command("modelfetch", "lock", "-m", mf, "--no-cache", "--progress", "none")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("download did not start")
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	var ee *exec.ExitError
	require.ErrorAs(t, cmd.Wait(), &ee)
	assert.Equal(t, 130, ee.ExitCode())
	assert.Equal(t, "modelfetch: error: interrupted (SIGINT)\n", stderr.String())
	b, err := os.ReadFile(mf)
	require.NoError(t, err)
	assert.Equal(t, text, string(b))
}
