package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testutil"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// randomBytes returns incompressible test data.
var randomBytes = testutil.RandomBytes

// server serves one body at every path with per-request behaviour.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	handle   func(w http.ResponseWriter, r *http.Request, n int) // n: 0-based request count
}

func newServer(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, n int)) *server {
	s := &server{handle: handle}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.requests)
		s.requests = append(s.requests, r.Clone(context.Background()))
		s.mu.Unlock()
		s.handle(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *server) request(i int) *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[i]
}

// serveRanges answers like a good static file server.
func serveRanges(data []byte) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "f", time.Unix(0, 0), bytes.NewReader(data))
	}
}

// resetAfter writes the first n bytes of the answer and then resets the connection.
func resetAfter(w http.ResponseWriter, r *http.Request, data []byte, n int) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	conn, bw, _ := hj.Hijack()
	defer conn.Close()
	fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nAccept-Ranges: bytes\r\nETag: \"v1\"\r\n\r\n", len(data))
	bw.Write(data[:n])
	bw.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST instead of FIN
	}
}

func model(data []byte, urls ...string) *manifest.Model {
	m := &manifest.Model{Name: "m", Dir: "models", Path: "sub/dir/m.bin", SHA256: digest.Of(data), Size: int64(len(data))}
	for _, u := range urls {
		m.Sources = append(m.Sources, srcOf(u, decompress.Auto))
	}
	return m
}

func srcOf(u string, c decompress.Format) *manifest.Source {
	m, err := manifest.Parse("t.toml", "/", []byte(fmt.Sprintf("version = 1\n[models.x]\npath = \"x\"\nurls = [%q]\n", u)))
	if err != nil {
		panic(err)
	}
	s := m.Models[0].Sources[0]
	s.Compression = c
	return s
}

type env struct {
	root  string
	cache *cache.Cache
	obs   *recorder
}

func newEnv(t *testing.T) *env {
	return &env{root: filepath.Join(t.TempDir(), "root"), cache: cache.New(filepath.Join(t.TempDir(), "cache")), obs: &recorder{}}
}

func (e *env) opts() Options {
	return Options{Retries: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, IdleTimeout: 2 * time.Second, Cache: e.cache, Observer: e.obs}
}

func (e *env) target(m *manifest.Model) Target {
	return Target{Model: m, Root: e.root, FileMode: 0o644, DirMode: 0o755}
}

func (e *env) install(t *testing.T, o Options, m *manifest.Model) Result {
	t.Helper()
	res := New(o).Install(context.Background(), []Target{e.target(m)})
	require.Len(t, res, 1)
	return res[0]
}

// assertClean checks that the install root holds only installed files.
func (e *env) assertClean(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	_ = filepath.Walk(e.root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(e.root, p)
			got = append(got, rel)
		}
		return nil
	})
	assert.ElementsMatch(t, want, got, "files in the install root")
}

type recorder struct {
	mu      sync.Mutex
	retries []string
	failed  []string
}

func (r *recorder) Start(string, int64)    {}
func (r *recorder) Progress(string, int64) {}
func (r *recorder) Retry(_ string, err *SourceError, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retries = append(r.retries, err.Error())
}
func (r *recorder) SourceFailed(_ string, err *SourceError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, err.Error())
}
func (r *recorder) Done(Result) {}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

func TestInstallAndRerun(t *testing.T) {
	data := randomBytes(300_000, 1)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	m := model(data, srv.URL+"/m.bin")

	r := e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	assert.Equal(t, StatusInstalled, r.Status)
	assert.Equal(t, srv.URL+"/m.bin", r.Source)
	assert.Equal(t, data, readFile(t, r.Dest))
	assert.True(t, e.cache.Has(m.SHA256), "the download filled the cache")
	e.assertClean(t, "sub/dir/m.bin")

	r = e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	assert.Equal(t, StatusUpToDate, r.Status)
	assert.Equal(t, 1, srv.count(), "an up-to-date file costs no request")

	require.NoError(t, os.Remove(r.Dest))
	r = e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	assert.Equal(t, StatusFromCache, r.Status)
	assert.Equal(t, 1, srv.count(), "the cache serves without network")
	assert.Equal(t, data, readFile(t, r.Dest))
}

func TestTransientFaultsAreRetriedAndResumed(t *testing.T) {
	data := randomBytes(1_000_000, 2)
	for _, tc := range []struct {
		name       string
		handle     func(w http.ResponseWriter, r *http.Request, n int)
		idle       time.Duration
		wantRange  bool   // a later request asked for a byte range
		wantReason string // in the first retry's message
	}{
		{
			name: "reset mid-body, resumed with Range",
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					resetAfter(w, r, data, 400_000)
					return
				}
				serveRanges(data)(w, r, n)
			},
			wantRange: true,
		},
		{
			name: "truncated body with a lying Content-Length",
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					hj, _ := w.(http.Hijacker)
					conn, bw, _ := hj.Hijack()
					fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nAccept-Ranges: bytes\r\n\r\n", len(data))
					bw.Write(data[:500_000])
					bw.Flush()
					conn.Close()
					return
				}
				serveRanges(data)(w, r, n)
			},
			wantRange:  true,
			wantReason: "truncated",
		},
		{
			name: "503 with Retry-After",
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				serveRanges(data)(w, r, n)
			},
			wantReason: "http 503 service unavailable",
		},
		{
			name: "429 then 500 then 408",
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n < 3 {
					w.WriteHeader([]int{429, 500, 408}[n])
					return
				}
				serveRanges(data)(w, r, n)
			},
			wantReason: "http 429 too many requests",
		},
		{
			name: "stall mid-body caught by the idle timeout",
			idle: 200 * time.Millisecond,
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					w.Header().Set("Content-Length", fmt.Sprint(len(data)))
					w.Header().Set("Accept-Ranges", "bytes")
					w.Write(data[:300_000])
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
					return
				}
				serveRanges(data)(w, r, n)
			},
			wantRange:  true,
			wantReason: "stalled: no data for 200ms",
		},
		{
			name: "server ignores Range: restarts from byte 0",
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					resetAfter(w, r, data, 600_000)
					return
				}
				w.Header().Set("Content-Length", fmt.Sprint(len(data)))
				w.Write(data) // 200 whatever the Range says
			},
			wantRange: true,
		},
		{
			name: "server answers the wrong Content-Range",
			handle: func(w http.ResponseWriter, r *http.Request, n int) {
				switch {
				case n == 0:
					resetAfter(w, r, data, 600_000)
				case r.Header.Get("Range") != "":
					w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
					w.WriteHeader(http.StatusPartialContent)
					w.Write(data)
				default:
					serveRanges(data)(w, r, n)
				}
			},
			wantRange: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.handle)
			e := newEnv(t)
			o := e.opts()
			if tc.idle > 0 {
				o.IdleTimeout = tc.idle
			}
			r := e.install(t, o, model(data, srv.URL+"/m.bin"))
			require.NoError(t, r.Err)
			assert.Equal(t, StatusInstalled, r.Status)
			assert.Equal(t, data, readFile(t, r.Dest))
			assert.GreaterOrEqual(t, r.Retries, 1)
			require.NotEmpty(t, e.obs.retries)
			if tc.wantReason != "" {
				assert.Contains(t, e.obs.retries[0], tc.wantReason)
			}
			if tc.wantRange {
				assert.Equal(t, "bytes=", srv.request(1).Header.Get("Range")[:6], "resumed with a Range request")
			}
			e.assertClean(t, "sub/dir/m.bin")
		})
	}
}

func TestResumeFetchesOnlyTheRest(t *testing.T) {
	data := randomBytes(1_000_000, 3)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			resetAfter(w, r, data, 700_000)
			return
		}
		serveRanges(data)(w, r, n)
	})
	e := newEnv(t)
	r := e.install(t, e.opts(), model(data, srv.URL+"/m.bin"))
	require.NoError(t, r.Err)
	req := srv.request(1)
	assert.Regexp(t, `^bytes=\d+-$`, req.Header.Get("Range"))
	assert.Equal(t, `"v1"`, req.Header.Get("If-Range"))
	assert.Less(t, r.Served, int64(len(data))+400_000, "the resumed part is not downloaded twice")
}

func TestMirrors(t *testing.T) {
	data := randomBytes(200_000, 4)
	bad := append([]byte{}, data...)
	bad[1000] ^= 1
	good := newServer(t, serveRanges(data))
	corrupt := newServer(t, serveRanges(bad))
	missing := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) { http.NotFound(w, r) })
	forbidden := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) { w.WriteHeader(403) })

	t.Run("corrupt primary, good mirror", func(t *testing.T) {
		e := newEnv(t)
		r := e.install(t, e.opts(), model(data, corrupt.URL+"/m.bin", good.URL+"/m.bin"))
		require.NoError(t, r.Err)
		assert.Equal(t, good.URL+"/m.bin", r.Source)
		assert.Equal(t, data, readFile(t, r.Dest))
		require.Len(t, e.obs.failed, 1)
		assert.Contains(t, e.obs.failed[0], "sha256 mismatch: got "+digest.Of(bad).String()+", want "+digest.Of(data).String())
		assert.Empty(t, e.obs.retries, "a wrong hash is not retried")
	})
	t.Run("404 and 403 move on without retrying", func(t *testing.T) {
		e := newEnv(t)
		before := missing.count() + forbidden.count()
		r := e.install(t, e.opts(), model(data, missing.URL+"/m.bin", forbidden.URL+"/m.bin", good.URL+"/m.bin"))
		require.NoError(t, r.Err)
		assert.Equal(t, 2, missing.count()+forbidden.count()-before)
		assert.Empty(t, e.obs.retries)
	})
	t.Run("every source corrupt is an integrity failure", func(t *testing.T) {
		e := newEnv(t)
		r := e.install(t, e.opts(), model(data, missing.URL+"/m.bin", corrupt.URL+"/m.bin"))
		var fe *Error
		require.ErrorAs(t, r.Err, &fe)
		assert.Equal(t, KindIntegrity, fe.Kind)
		lines := fe.Lines()
		require.Len(t, lines, 2)
		assert.Equal(t, "m: "+missing.URL+"/m.bin: http 404 not found", lines[0])
		assert.Contains(t, lines[1], "m: "+corrupt.URL+"/m.bin: sha256 mismatch")
		e.assertClean(t)
		assert.False(t, e.cache.Has(digest.Of(data)))
	})
	t.Run("only network failures is a network failure", func(t *testing.T) {
		e := newEnv(t)
		r := e.install(t, e.opts(), model(data, missing.URL+"/m.bin", forbidden.URL+"/m.bin"))
		var fe *Error
		require.ErrorAs(t, r.Err, &fe)
		assert.Equal(t, KindNetwork, fe.Kind)
	})
	t.Run("500 forever gives up after the retries", func(t *testing.T) {
		always := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) { w.WriteHeader(500) })
		e := newEnv(t)
		r := e.install(t, e.opts(), model(data, always.URL+"/m.bin"))
		var fe *Error
		require.ErrorAs(t, r.Err, &fe)
		assert.Equal(t, KindNetwork, fe.Kind)
		assert.Equal(t, 4, always.count(), "one try and three retries")
		e.assertClean(t)
	})
}

func TestBadFileNeverReplacesAGoodOne(t *testing.T) {
	data := randomBytes(100_000, 5)
	bad := randomBytes(100_000, 6)
	corrupt := newServer(t, serveRanges(bad))
	e := newEnv(t)
	dest := filepath.Join(e.root, "sub/dir/m.bin")
	require.NoError(t, os.MkdirAll(filepath.Dir(dest), 0o755))
	old := []byte("the previous model, whatever it was")
	require.NoError(t, os.WriteFile(dest, old, 0o644))
	r := e.install(t, e.opts(), model(data, corrupt.URL+"/m.bin"))
	require.Error(t, r.Err)
	assert.Equal(t, old, readFile(t, dest))
	e.assertClean(t, "sub/dir/m.bin")
}

func TestSizeCapStopsABomb(t *testing.T) {
	big := bytes.Repeat([]byte{0}, 5_000_000)
	var gz bytes.Buffer
	require.NoError(t, writeGzip(&gz, big))
	srv := newServer(t, serveRanges(gz.Bytes()))
	e := newEnv(t)
	m := model(big[:1000], srv.URL+"/bomb.gz") // declares 1000 bytes
	r := e.install(t, e.opts(), m)
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindIntegrity, fe.Kind)
	assert.Contains(t, fe.Error(), "more than the declared 1000 bytes")
	e.assertClean(t)
}

func TestCompressedSources(t *testing.T) {
	data := bytes.Repeat([]byte("0.125 0.250 0.375 "), 60_000)
	one := testutil.Bzip2(t, data, 1)
	// pbzip2/lbzip2 write one stream per block: concatenated streams.
	multi := append(testutil.Bzip2(t, data[:500_000], 1), testutil.Bzip2(t, data[500_000:], 1)...)
	for name, body := range map[string][]byte{"bzip2": one, "multi-stream bzip2": multi} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, serveRanges(body))
			e := newEnv(t)
			r := e.install(t, e.opts(), model(data, srv.URL+"/m.bz2"))
			require.NoError(t, r.Err)
			assert.Equal(t, data, readFile(t, r.Dest))
		})
	}
	t.Run("truncated bzip2 without a length is retried", func(t *testing.T) {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 0 {
				// No Content-Length: the cut is visible only to the decoder.
				w.Write(one[:len(one)/2])
				return
			}
			w.Write(one)
		})
		e := newEnv(t)
		r := e.install(t, e.opts(), model(data, srv.URL+"/m.bz2"))
		require.NoError(t, r.Err)
		assert.Equal(t, 2, srv.count())
		assert.Equal(t, data, readFile(t, r.Dest))
	})
	t.Run("corrupt bzip2 is an integrity failure", func(t *testing.T) {
		bad := append([]byte{}, one...)
		for i := len(bad) / 2; i < len(bad)/2+8; i++ {
			bad[i] ^= 0xff
		}
		srv := newServer(t, serveRanges(bad))
		e := newEnv(t)
		r := e.install(t, e.opts(), model(data, srv.URL+"/m.bz2"))
		var fe *Error
		require.ErrorAs(t, r.Err, &fe)
		assert.Equal(t, KindIntegrity, fe.Kind)
		assert.Contains(t, fe.Error(), "corrupt bzip2 stream")
		assert.Equal(t, 1, srv.count(), "complete bad bytes are not retried")
	})
	t.Run("declared as-served digest is checked", func(t *testing.T) {
		srv := newServer(t, serveRanges(one))
		e := newEnv(t)
		m := model(data)
		s := srcOf(srv.URL+"/m.bz2", decompress.Bzip2)
		s.SHA256 = digest.Of([]byte("something else"))
		m.Sources = []*manifest.Source{s}
		r := e.install(t, e.opts(), m)
		var fe *Error
		require.ErrorAs(t, r.Err, &fe)
		assert.Equal(t, KindIntegrity, fe.Kind)
	})
}

func TestFileSourceAndOffline(t *testing.T) {
	data := randomBytes(50_000, 7)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "m.bin"), data, 0o644))
	e := newEnv(t)
	m := model(data, "file://"+filepath.ToSlash(filepath.Join(dir, "m.bin")))
	o := e.opts()
	o.Offline = true

	// A local file is not the network: --offline installs from it.
	r := e.install(t, o, m)
	require.NoError(t, r.Err)
	assert.Equal(t, StatusInstalled, r.Status)
	assert.Equal(t, data, readFile(t, r.Dest))

	// An http source offline, with a cache miss, fails as a network failure
	// and reaches no server.
	srv := newServer(t, serveRanges(data))
	e2 := newEnv(t)
	hm := model(data, srv.URL+"/m.bin")
	o2 := e2.opts()
	o2.Offline = true
	r = e2.install(t, o2, hm)
	var fe *Error
	require.ErrorAs(t, r.Err, &fe, "offline with a cache miss fails")
	assert.Equal(t, KindNetwork, fe.Kind)
	assert.Contains(t, fe.Error(), "not in the cache")
	assert.Zero(t, srv.count())

	r = e2.install(t, e2.opts(), hm)
	require.NoError(t, r.Err)
	require.NoError(t, os.Remove(r.Dest))
	r = e2.install(t, o2, hm)
	require.NoError(t, r.Err)
	assert.Equal(t, StatusFromCache, r.Status)
}

func TestCorruptCacheBlobIsReplaced(t *testing.T) {
	data := randomBytes(100_000, 8)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	m := model(data, srv.URL+"/m.bin")
	r := e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	blob := e.cache.BlobPath(m.SHA256)
	require.NoError(t, os.Chmod(blob, 0o644))
	require.NoError(t, os.WriteFile(blob, randomBytes(100_000, 9), 0o644))
	require.NoError(t, os.Remove(r.Dest))

	r = e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	assert.Equal(t, StatusInstalled, r.Status, "a bad blob is not installed; the file is downloaded again")
	assert.Equal(t, data, readFile(t, r.Dest))
	require.NoError(t, e.cache.Verify(context.Background(), m.SHA256))
}

func TestNoCache(t *testing.T) {
	data := randomBytes(10_000, 10)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	o := e.opts()
	o.Cache = nil
	r := e.install(t, o, model(data, srv.URL+"/m.bin"))
	require.NoError(t, r.Err)
	_, err := os.Stat(e.cache.Dir())
	assert.True(t, errors.Is(err, os.ErrNotExist))
}

func TestOwnershipAndModes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	data := randomBytes(1000, 11)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	existing := filepath.Join(e.root, "sub")
	require.NoError(t, os.MkdirAll(existing, 0o711))
	m := model(data, srv.URL+"/m.bin")
	tg := e.target(m)
	tg.Owner = &manifest.Owner{UID: 1234, GID: 5678}
	tg.FileMode, tg.DirMode = 0o640, 0o750
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	res := New(e.opts()).Install(context.Background(), []Target{tg})
	require.NoError(t, res[0].Err)

	check := func(p string, mode os.FileMode, uid, gid int) {
		t.Helper()
		fi, err := os.Lstat(p)
		require.NoError(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		assert.Equal(t, mode, fi.Mode().Perm(), p)
		assert.Equal(t, uid, int(st.Uid), p)
		assert.Equal(t, gid, int(st.Gid), p)
	}
	check(filepath.Join(e.root, "sub/dir/m.bin"), 0o640, 1234, 5678)
	check(filepath.Join(e.root, "sub/dir"), 0o750, 1234, 5678)
	check(existing, 0o711, 0, 0) // existing parents are left alone
}

func TestRootCreatedWithOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	data := randomBytes(1000, 12)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	e.root = filepath.Join(e.root, "home", "appuser", ".u2net")
	tg := e.target(model(data, srv.URL+"/m.bin"))
	tg.Model.Path = "u2net_human_seg.onnx"
	tg.Owner = &manifest.Owner{UID: 1000, GID: 1000}
	res := New(e.opts()).Install(context.Background(), []Target{tg})
	require.NoError(t, res[0].Err)
	for _, p := range []string{e.root, filepath.Dir(e.root), filepath.Join(e.root, "u2net_human_seg.onnx")} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, uint32(1000), fi.Sys().(*syscall.Stat_t).Uid, p)
	}
}

func TestSymlinkEscapeIsRefused(t *testing.T) {
	e := newEnv(t)
	outside := t.TempDir()
	require.NoError(t, os.MkdirAll(e.root, 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(e.root, "sub")))
	m, err := manifest.Parse("t.toml", "/", []byte("version = 1\n[dirs]\nmodels = \""+e.root+"\"\n[models.m]\npath = \"sub/dir/m.bin\"\nsha256 = \""+digest.Of(nil).String()+"\"\nurls = [\"https://h/x\"]\n"))
	require.NoError(t, err)
	_, err = Targets(m, m.Models, nil, false)
	require.Error(t, err)
	assert.Equal(t, "t.toml:4: models.m.path: sub/dir escapes its root through a symlink", err.Error())

	// The destination itself as a symlink out of the root is replaced, not followed.
	require.NoError(t, os.Remove(filepath.Join(e.root, "sub")))
	data := randomBytes(1000, 13)
	srv := newServer(t, serveRanges(data))
	mod := model(data, srv.URL+"/m.bin")
	mod.Path = "m.bin"
	victim := filepath.Join(outside, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("keep"), 0o644))
	require.NoError(t, os.Symlink(victim, filepath.Join(e.root, "m.bin")))
	r := e.install(t, e.opts(), mod)
	require.NoError(t, r.Err)
	assert.Equal(t, []byte("keep"), readFile(t, victim))
	fi, err := os.Lstat(filepath.Join(e.root, "m.bin"))
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular())
}

func TestDestinationIsADirectory(t *testing.T) {
	data := randomBytes(1000, 14)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	m := model(data, srv.URL+"/m.bin")
	require.NoError(t, os.MkdirAll(filepath.Join(e.root, m.Path, "x"), 0o755))
	r := e.install(t, e.opts(), m)
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindLocal, fe.Kind)
	assert.Contains(t, fe.Error(), "destination is a directory")
	e.assertClean(t)
}

func TestCredentialsStayWithTheirHost(t *testing.T) {
	data := randomBytes(1000, 15)
	var gotAuth atomic.Value
	gotAuth.Store("")
	other := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		gotAuth.Store(r.Header.Get("Authorization"))
		serveRanges(data)(w, r, n)
	})
	origin := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			w.WriteHeader(401)
			return
		}
		// 127.0.0.1 and localhost are different hosts to an HTTP client.
		http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/blob", http.StatusFound)
	})
	creds := func(scheme, host string) string {
		if host == "127.0.0.1" {
			return "Bearer secret"
		}
		return ""
	}
	e := newEnv(t)
	o := e.opts()
	o.Client = NewClient(nil, creds, time.Second)
	r := e.install(t, o, model(data, origin.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.Equal(t, "", gotAuth.Load(), "the token did not follow the redirect to another host")
}

// The host a redirect leads to is not told where we came from: the Referer
// would carry the first URL's query string (a token, a signature).
func TestRedirectCarriesNoReferer(t *testing.T) {
	data := randomBytes(1000, 16)
	storage := newServer(t, serveRanges(data))
	origin := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, storage.URL+"/blob", http.StatusFound)
	})
	e := newEnv(t)
	r := e.install(t, e.opts(), model(data, origin.URL+"/m.bin?token=s3cret"))
	require.NoError(t, r.Err)
	require.Equal(t, 1, storage.count())
	assert.Empty(t, storage.request(0).Header.Get("Referer"))
	assert.Equal(t, "modelfetch", storage.request(0).Header.Get("User-Agent"))
	assert.Equal(t, "modelfetch", origin.request(0).Header.Get("User-Agent"))
}

func TestRedirectLoop(t *testing.T) {
	var srv *server
	srv = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Redirect(w, r, fmt.Sprintf("/r%d", n), http.StatusFound)
	})
	e := newEnv(t)
	r := e.install(t, e.opts(), model([]byte("x"), srv.URL+"/m.bin?token=hunter2"))
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindNetwork, fe.Kind)
	assert.Equal(t, "m: "+srv.URL+"/m.bin?REDACTED: stopped after 10 redirects", fe.Error())
	assert.Equal(t, 10, srv.count(), "the first request and 9 redirects; not retried")
}

func TestConcurrentInstallsShareACache(t *testing.T) {
	data := randomBytes(2_000_000, 16)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		time.Sleep(50 * time.Millisecond)
		serveRanges(data)(w, r, n)
	})
	e := newEnv(t)
	m := model(data, srv.URL+"/m.bin")
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			root := filepath.Join(e.root, fmt.Sprint(i))
			res := New(e.opts()).Install(context.Background(), []Target{{Model: m, Root: root, FileMode: 0o644, DirMode: 0o755}})
			assert.NoError(t, res[0].Err)
			assert.Equal(t, data, readFile(t, res[0].Dest))
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, srv.count(), "the cache lock lets one download serve all")
}

func TestCancelLeavesNothing(t *testing.T) {
	data := randomBytes(2_000_000, 17)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:100_000])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	res := New(e.opts()).Install(ctx, []Target{e.target(model(data, srv.URL+"/m.bin"))})
	var fe *Error
	require.ErrorAs(t, res[0].Err, &fe)
	assert.Equal(t, KindCanceled, fe.Kind)
	e.assertClean(t)
}

func TestStaleTempFilesAreRemoved(t *testing.T) {
	data := randomBytes(1000, 18)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	m := model(data, srv.URL+"/m.bin")
	dir := filepath.Join(e.root, "sub/dir")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".modelfetch-m.bin.dead.tmp"), []byte("half"), 0o600))
	r := e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	e.assertClean(t, "sub/dir/m.bin")
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"7": 7 * time.Second,
		"0": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat):  90 * time.Second,
		now.Add(-90 * time.Second).Format(http.TimeFormat): 0,
	} {
		d, ok := parseRetryAfter(in, now)
		assert.True(t, ok, in)
		assert.Equal(t, want, d, in)
	}
	for _, in := range []string{"", "yesterday", "-3"} {
		_, ok := parseRetryAfter(in, now)
		assert.False(t, ok, in)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	data := randomBytes(1000, 19)
	var first time.Time
	var gap time.Duration
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			first = time.Now()
			w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		gap = time.Since(first)
		serveRanges(data)(w, r, n)
	})
	e := newEnv(t)
	r := e.install(t, e.opts(), model(data, srv.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.GreaterOrEqual(t, gap, 900*time.Millisecond, "waited as told, not the 1ms backoff")
}

func TestParseContentRange(t *testing.T) {
	for in, want := range map[string][3]int64{
		"bytes 10-99/100": {10, 100, 1},
		"bytes 0-0/*":     {0, -1, 1},
		"bytes 10-5/100":  {0, 0, 0},
		"bytes 10-99/50":  {0, 0, 0},
		"items 1-2/3":     {0, 0, 0},
		"":                {0, 0, 0},
	} {
		s, tot, ok := parseContentRange(in)
		if want[2] == 0 {
			assert.False(t, ok, in)
			continue
		}
		assert.True(t, ok, in)
		assert.Equal(t, want[0], s, in)
		assert.Equal(t, want[1], tot, in)
	}
}

func TestManyArtifactsInOneFolder(t *testing.T) {
	// Each artifact's start cleans stale temp files in its folder; it must
	// never take a live sibling's temp file for a dead run's.
	e := newEnv(t)
	var targets []Target
	for i := 0; i < 12; i++ {
		data := randomBytes(50_000, uint64(100+i))
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			serveRanges(data)(w, r, n)
		})
		m := model(data, srv.URL+"/m.bin")
		m.Name, m.Path = fmt.Sprint("m", i), fmt.Sprintf("same/m%d.bin", i)
		targets = append(targets, e.target(m))
	}
	o := e.opts()
	o.Jobs = 12
	for _, r := range New(o).Install(context.Background(), targets) {
		require.NoError(t, r.Err)
	}
}

func TestCertificateErrorsAreNotRetried(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }))
	defer srv.Close()
	e := newEnv(t)
	o := e.opts()
	o.Client = NewClient(nil, nil, time.Second) // does not trust the test CA
	r := e.install(t, o, model([]byte("x"), srv.URL+"/m.bin"))
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindNetwork, fe.Kind)
	assert.Contains(t, fe.Error(), "certificate")
	assert.Equal(t, 0, r.Retries)
	assert.Empty(t, e.obs.retries)
}

func TestCacheInstallReportsSizeWithoutDeclaredSize(t *testing.T) {
	data := randomBytes(12_345, 80)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	m := model(data, srv.URL+"/m.bin")
	m.Size = -1
	r := e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	assert.Equal(t, int64(len(data)), r.Size)
	require.NoError(t, os.Remove(r.Dest))
	r = e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	assert.Equal(t, StatusFromCache, r.Status)
	assert.Equal(t, int64(len(data)), r.Size, "the size copied from the cache, not 'unknown'")
}
