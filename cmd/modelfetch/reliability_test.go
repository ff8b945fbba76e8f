package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture is a manifest of a few generated files on a loopback server that
// sends each response slowly enough to be interrupted, counting requests.
type fixture struct {
	dir, manifest string
	files         map[string][]byte // name -> installed bytes
	mu            sync.Mutex
	hits          map[string]int
	srv           *httptest.Server
}

func newFixture(t *testing.T, n, size int, pace time.Duration) *fixture {
	f := &fixture{dir: t.TempDir(), files: map[string][]byte{}, hits: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		f.mu.Lock()
		f.hits[name]++
		f.mu.Unlock()
		b, ok := f.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, name, time.Unix(0, 0), bytes.NewReader(b))
	}))
	t.Cleanup(f.srv.Close)
	if pace > 0 {
		inner := f.srv.Config.Handler
		f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.ServeHTTP(&pacedWriter{ResponseWriter: w, pace: pace}, r)
		})
	}
	var m strings.Builder
	m.WriteString("version = 1\n[dirs]\nmodels = \"out/models\"\nu2net = \"out/u2net\"\n")
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("m%d.bin", i)
		r := rand.New(rand.NewPCG(uint64(i), uint64(size)))
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		f.files[name] = b
		sum := sha256.Sum256(b)
		dir := "models"
		if i%2 == 1 {
			dir = "u2net"
		}
		fmt.Fprintf(&m, "[models.m%d]\ndir = %q\npath = \"sub/%s\"\nsha256 = %q\nsize = %d\nurls = [\"%s/%s\"]\n",
			i, dir, name, hex.EncodeToString(sum[:]), size, f.srv.URL, name)
	}
	f.manifest = filepath.Join(f.dir, "models.toml")
	require.NoError(t, os.WriteFile(f.manifest, []byte(m.String()), 0o644))
	return f
}

// pacedWriter sends 32 KiB per pace: a slow, steady mirror.
type pacedWriter struct {
	http.ResponseWriter
	pace time.Duration
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m := min(len(b)-n, 32<<10)
		w, err := p.ResponseWriter.Write(b[n : n+m])
		n += w
		if err != nil {
			return n, err
		}
		if f, ok := p.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(p.pace)
	}
	return n, nil
}

func (f *fixture) cmd(args ...string) *exec.Cmd {
	return f.cmdNoCache(append([]string{"--cache", filepath.Join(f.dir, "cache")}, args...)...)
}

func (f *fixture) cmdNoCache(args ...string) *exec.Cmd {
	cmd := exec.Command("modelfetch", append([]string{"-m", f.manifest, "--progress", "none"}, args...)...)
	cmd.Dir = f.dir
	return cmd
}

// check asserts the invariants that hold after any run, even a killed one:
// every file under its final name in an install root is whole and right,
// and every blob under its final name in the cache is whole and right.
// After a run that finished, finished is true: every file is there and no
// temp file is left in the install roots.
func (f *fixture) check(t *testing.T, finished bool) {
	t.Helper()
	want := map[string][]byte{}
	for name, b := range f.files {
		want[name] = b
	}
	present := 0
	for _, root := range []string{"out/models", "out/u2net"} {
		filepath.Walk(filepath.Join(f.dir, root), func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return nil
			}
			if strings.HasPrefix(fi.Name(), ".modelfetch-") {
				assert.False(t, finished, "temp file left after a finished run: %s", p)
				return nil
			}
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.Equal(t, want[fi.Name()], b, "a file under its final name is whole: %s", p)
			present++
			return nil
		})
	}
	if finished {
		assert.Equal(t, len(f.files), present)
	}
	blobs, _ := os.ReadDir(filepath.Join(f.dir, "cache", "blobs", "sha256"))
	for _, b := range blobs {
		data, err := os.ReadFile(filepath.Join(f.dir, "cache", "blobs", "sha256", b.Name()))
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		assert.Equal(t, b.Name(), hex.EncodeToString(sum[:]), "a cached blob is whole")
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestKillAtRandomPoints SIGKILLs modelfetch at random moments of a fetch,
// checks what a killed run leaves, then reruns to completion.
// MODELFETCH_KILL_RUNS sets the number of kills (CI: 6); the seed is logged,
// and MODELFETCH_KILL_SEED replays a run.
func TestKillAtRandomPoints(t *testing.T) {
	runs := envInt("MODELFETCH_KILL_RUNS", 6)
	seed := uint64(envInt("MODELFETCH_KILL_SEED", int(time.Now().UnixNano()&0x7fffffff)))
	t.Logf("seed %d (MODELFETCH_KILL_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	killed, finishedFirst := 0, 0
	for i := 0; i < runs; i++ {
		f := newFixture(t, 4, 1_000_000, 10*time.Millisecond) // about 0.3 s per file
		// Kill the same fetch up to three times in a row.
		for k := 0; k < 3; k++ {
			cmd := f.cmd("--connections", strconv.Itoa(1+rng.IntN(4)))
			require.NoError(t, cmd.Start())
			time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			err := cmd.Wait()
			if err == nil {
				finishedFirst++
			} else {
				killed++
			}
			f.check(t, err == nil)
		}
		out, err := f.cmd().CombinedOutput()
		require.NoError(t, err, "%s", out)
		f.check(t, true)
	}
	t.Logf("%d runs: %d kills landed mid-fetch, %d runs finished before the kill; every rerun ended correct", runs, killed, finishedFirst)
}

// TestProcessesShareACache runs 2 and 4 processes at once on one cache and
// one install root, as parallel docker builds with a shared cache mount do.
func TestProcessesShareACache(t *testing.T) {
	for _, procs := range []int{2, 4} {
		for _, noLock := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d processes, locks %v", procs, !noLock), func(t *testing.T) {
				f := newFixture(t, 3, 400_000, 2*time.Millisecond)
				var wg sync.WaitGroup
				outs := make([][]byte, procs)
				errs := make([]error, procs)
				for p := 0; p < procs; p++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						args := []string{"--connections", "1"}
						if noLock {
							args = append(args, "--unsafe-no-lock")
						}
						outs[p], errs[p] = f.cmd(args...).CombinedOutput()
					}()
				}
				wg.Wait()
				for p := range errs {
					require.NoError(t, errs[p], "%s", outs[p])
				}
				f.check(t, true)
				if !noLock {
					for name, n := range f.hits {
						assert.Equal(t, 1, n, "%s downloaded once for %d processes", name, procs)
					}
				}
			})
		}
	}
}

// mountTmpfs mounts a small tmpfs (as root), or skips.
func mountTmpfs(t *testing.T, dir, opts string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
}

func TestDiskFull(t *testing.T) {
	f := newFixture(t, 2, 3_000_000, 0)
	out := filepath.Join(f.dir, "out")
	mountTmpfs(t, out, "size=4m")
	// One 3 MB file fits, the second does not; its previous version must
	// survive whichever goes first.
	old := []byte("previous model")
	prev := map[string]string{"m0.bin": filepath.Join(out, "models", "sub", "m0.bin"), "m1.bin": filepath.Join(out, "u2net", "sub", "m1.bin")}
	for _, p := range prev {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, old, 0o644))
	}

	cmd := f.cmdNoCache("--jobs", "1", "--no-cache", "--retries", "5")
	stderr, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Equal(t, 1, cmd.ProcessState.ExitCode(), "%s", stderr)
	assert.Contains(t, string(stderr), "no space left on device")
	// Not retried: each file was asked for at most once.
	for name, n := range f.hits {
		assert.LessOrEqual(t, n, 1, "%s: a full disk is not retried", name)
	}
	installed, kept := 0, 0
	for name, p := range prev {
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		switch {
		case bytes.Equal(got, f.files[name]):
			installed++
		case bytes.Equal(got, old):
			kept++
		default:
			t.Errorf("%s is neither the new file nor the previous one", p)
		}
	}
	assert.Equal(t, 1, installed, "one file fitted")
	assert.Equal(t, 1, kept, "the other's previous version is intact")
	matches, _ := filepath.Glob(filepath.Join(out, "*", "sub", ".modelfetch-*"))
	assert.Empty(t, matches, "no temp file left behind")
}

func TestReadOnlyDestination(t *testing.T) {
	f := newFixture(t, 1, 10_000, 0)
	out := filepath.Join(f.dir, "out")
	mountTmpfs(t, out, "ro,size=1m")
	cmd := f.cmdNoCache("--no-cache")
	stderr, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Equal(t, 1, cmd.ProcessState.ExitCode())
	assert.Contains(t, string(stderr), "read-only file system")
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(string(stderr)), "modelfetch: error:"), "%s", stderr)
}
