package fetch

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/fsutil"
	"github.com/djok/modelfetch/internal/testutil"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Servers and inputs that try to hang the run, blow up its memory or fool
// it (issue 10): each is bounded, and fails the source with the right kind.

func TestTrickleIsGivenUp(t *testing.T) {
	data := randomBytes(100_000, 90)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(200)
		for i := 0; i < len(data); i++ {
			if _, err := w.Write(data[i : i+1]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond): // 10 bytes/s, never idle for long
			}
		}
	})
	e := newEnv(t)
	o := e.opts()
	o.IdleTimeout = 2 * time.Second
	o.MinSpeed, o.SpeedWindow = 1000, 500*time.Millisecond
	start := time.Now()
	r := e.install(t, o, model(data, srv.URL+"/m.bin"))
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindNetwork, fe.Kind)
	assert.Contains(t, fe.Error(), "too slow")
	assert.Equal(t, 1, srv.count(), "a source below the minimum rate is given up, not retried")
	assert.Less(t, time.Since(start), 5*time.Second)
	e.assertClean(t)
}

func TestReconnectsThatEachAddAByteAreBounded(t *testing.T) {
	data := randomBytes(1<<20, 91)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		var from int
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &from)
		if from > 0 {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(data)-1, len(data)))
			w.Header().Set("Content-Length", fmt.Sprint(len(data)-from))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Accept-Ranges", "bytes")
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.WriteHeader(200)
		}
		w.Write(data[from : from+1]) // one new byte, then the connection ends
	})
	e := newEnv(t)
	o := e.opts()
	o.Retries = 3
	r := e.install(t, o, model(data, srv.URL+"/m.bin"))
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindNetwork, fe.Kind)
	assert.LessOrEqual(t, srv.count(), 1+o.Retries, "a byte per connection does not earn the tries back")
	e.assertClean(t)
}

func TestCleanShortBodyIsIntegrityAfterOneFreshTry(t *testing.T) {
	data := randomBytes(100_000, 92)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	m := model(data, srv.URL+"/m.bin")
	m.Size = int64(len(data)) + 1000 // the manifest says more than the server has
	r := e.install(t, e.opts(), m)
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindIntegrity, fe.Kind)
	assert.Equal(t, fmt.Sprintf("m: %s/m.bin: short file: served %d bytes twice, the manifest declares %d", srv.URL, len(data), m.Size), fe.Error())
	assert.Equal(t, 2, srv.count(), "one fresh retry, then given up")
	for i := range 2 {
		assert.Empty(t, srv.request(i).Header.Get("Range"), "fresh tries, not resumes")
	}
}

func TestGzipServedWhereNoneIsDeclaredIsIntegrity(t *testing.T) {
	// nginx's gzip_static always: a complete gzip body where the manifest
	// declares the bytes as they are.
	data := bytes.Repeat([]byte("model weights "), 10_000)
	var gz bytes.Buffer
	require.NoError(t, writeGzip(&gz, data))
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Length", fmt.Sprint(gz.Len()))
		w.Write(gz.Bytes())
	})
	e := newEnv(t)
	m := model(data)
	m.Sources = append(m.Sources, srcOf(srv.URL+"/m.bin", decompress.None))
	r := e.install(t, e.opts(), m)
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindIntegrity, fe.Kind)
	assert.Contains(t, fe.Error(), "short file")
	assert.NotContains(t, fe.Error(), "starting over")
	assert.Equal(t, 2, srv.count())
}

func TestChangedValidatorOnResumeStartsOver(t *testing.T) {
	v1 := randomBytes(300_000, 93)
	v2 := randomBytes(300_000, 94)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			// Version 1, cut off mid-body.
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Accept-Ranges", "bytes")
			w.Header().Set("Content-Length", fmt.Sprint(len(v1)))
			w.WriteHeader(200)
			w.Write(v1[:100_000])
			panic(http.ErrAbortHandler)
		}
		// Version 2 from now on, and If-Range ignored: a 206 of v2.
		w.Header().Set("ETag", `"v2"`)
		r.Header.Del("If-Range")
		http.ServeContent(w, r, "m", time.Unix(0, 0), bytes.NewReader(v2))
	})
	e := newEnv(t)
	r := e.install(t, e.opts(), model(v2, srv.URL+"/m.bin"))
	require.NoError(t, r.Err, "the two versions are not spliced")
	assert.Equal(t, v2, readFile(t, r.Dest))
	assert.Equal(t, "bytes=100000-", srv.request(1).Header.Get("Range"))
	assert.Empty(t, srv.request(2).Header.Get("Range"), "started over from byte 0")
}

func TestClaimedTotalIsNeverTrustedOverTheDeclaredSize(t *testing.T) {
	data := randomBytes(6<<20, 95)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Header.Get("Range") == "bytes=0-65535" {
			w.Header().Set("Content-Range", "bytes 0-65535/35184372088832")
			w.Header().Set("Content-Length", "65536")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[:65536])
			return
		}
		serveRanges(data)(w, r, n)
	})
	e := newEnv(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := e.install(t, parallelOpts(e), model(data, srv.URL+"/m.bin"))
	runtime.ReadMemStats(&after)
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, r.Dest))
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(128<<20), "allocations do not follow the claimed 32 TiB")
}

func TestRightBytesWrongModeIsFixedWithoutDownloading(t *testing.T) {
	data := randomBytes(10_000, 96)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	m := model(data, srv.URL+"/m.bin")
	r := e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	require.NoError(t, os.Chmod(r.Dest, 0o600))
	n := srv.count()
	r = e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	assert.Equal(t, StatusUpToDate, r.Status)
	assert.True(t, r.Fixed)
	fi, err := os.Stat(r.Dest)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	assert.Equal(t, n, srv.count(), "nothing downloaded")
	if os.Getuid() == 0 {
		require.NoError(t, os.Chown(r.Dest, 1234, 1234))
		tg := e.target(m)
		tg.Owner = ownerOf(1000, 1000)
		res := New(e.opts()).Install(t.Context(), []Target{tg})
		require.NoError(t, res[0].Err)
		assert.True(t, res[0].Fixed)
		uid, gid, _ := fileOwner(statT(t, r.Dest))
		assert.Equal(t, []int{1000, 1000}, []int{uid, gid})
	}
}

func TestKilledRunsTempFilesAreSweptWhateverIsSelected(t *testing.T) {
	data := randomBytes(1000, 97)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	// A killed run of another model (or another manifest) left this behind.
	other := filepath.Join(e.root, "other", "deep")
	require.NoError(t, os.MkdirAll(other, 0o755))
	stale := filepath.Join(other, fsutil.TempPrefix+"x.bin.abcdef"+fsutil.TempSuffix)
	require.NoError(t, os.WriteFile(stale, []byte("partial"), 0o600))
	r := e.install(t, e.opts(), model(data, srv.URL+"/m.bin"))
	require.NoError(t, r.Err)
	assert.NoFileExists(t, stale)
}

func TestFailedRunRemovesTheFoldersItCreated(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) { w.WriteHeader(404) })
	e := newEnv(t)
	r := e.install(t, e.opts(), model([]byte("x"), srv.URL+"/m.bin"))
	require.Error(t, r.Err)
	assert.NoDirExists(t, e.root, "the root and sub/dir were made by the run and left empty")

	// Folders that were there before stay, even empty ones.
	require.NoError(t, os.MkdirAll(filepath.Join(e.root, "sub"), 0o755))
	r = e.install(t, e.opts(), model([]byte("x"), srv.URL+"/m.bin"))
	require.Error(t, r.Err)
	assert.DirExists(t, filepath.Join(e.root, "sub"))
	assert.NoDirExists(t, filepath.Join(e.root, "sub", "dir"))
}

func TestBrokenCacheNeverFailsAnInstall(t *testing.T) {
	data := randomBytes(50_000, 98)
	srv := newServer(t, serveRanges(data))
	for name, mk := range map[string]func(t *testing.T) *cache.Cache{
		"cache path is a file": func(t *testing.T) *cache.Cache {
			p := filepath.Join(t.TempDir(), "cache")
			require.NoError(t, os.WriteFile(p, nil, 0o644))
			return cache.New(p)
		},
		"cache blob is a symlink to /dev/zero": func(t *testing.T) *cache.Cache {
			c := cache.New(filepath.Join(t.TempDir(), "cache"))
			p := c.BlobPath(model(data).SHA256)
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.Symlink("/dev/zero", p))
			return c
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.cache = mk(t)
			r := e.install(t, e.opts(), model(data, srv.URL+"/m.bin"))
			require.NoError(t, r.Err)
			assert.Equal(t, StatusInstalled, r.Status)
			assert.Equal(t, data, readFile(t, r.Dest))
			assert.NotEmpty(t, r.Warnings, "the broken cache is said, as a warning")
		})
	}
}

func TestBzip2StoppedEarlyJoinsItsDecoder(t *testing.T) {
	// A bzip2 bomb stopped by the size cap: the decoder's goroutines still
	// read the stream; they must be finished before it is closed (-race).
	data := bytes.Repeat([]byte{0}, 4<<20)
	bz := testutil.Bzip2(t, data, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Write(bz)
	})
	e := newEnv(t)
	m := model(data[:1000], srv.URL+"/m.bz2")
	r := e.install(t, e.opts(), m)
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindIntegrity, fe.Kind)
	assert.True(t, strings.Contains(fe.Error(), "more than the declared 1000 bytes"), fe.Error())
}

func writeGzip(w *bytes.Buffer, data []byte) error {
	zw := gzip.NewWriter(w)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	return zw.Close()
}

func ownerOf(uid, gid int) *manifest.Owner { return &manifest.Owner{UID: uid, GID: gid} }

func statT(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi
}

func TestLongestLegalFileNameInstalls(t *testing.T) {
	data := randomBytes(1000, 99)
	srv := newServer(t, serveRanges(data))
	e := newEnv(t)
	m := model(data, srv.URL+"/m.bin")
	m.Path = strings.Repeat("n", 255) // the temp file beside it must fit too
	r := e.install(t, e.opts(), m)
	require.NoError(t, r.Err)
	assert.Equal(t, data, readFile(t, r.Dest))
	e.assertClean(t, m.Path)
}

func TestPartOfTheFileForTheWholeIsSaidPlainly(t *testing.T) {
	data := randomBytes(100_000, 100)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		// Always the same part, whatever was asked, with an absurd total.
		w.Header().Set("Content-Range", "bytes 0-49999/999999999999999999")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[:50_000])
	})
	e := newEnv(t)
	o := parallelOpts(e)
	r := e.install(t, o, model(data, srv.URL+"/m.bin"))
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Contains(t, fe.Error(), "asked for the whole file, the server answered with a part of it (206")
	// Not retried: one plain GET, and no range asked twice. How many ranged
	// requests there were depends on the scheduler: the probe (chunk 0),
	// its resume at 50000, and each chunk the file dispatched before the
	// first errNoRanges stopped it, at most its window (connections + 2:
	// no chunk is ever read, so no window slot comes back).
	plain, ranges := 0, map[string]int{}
	for i := range srv.count() {
		if rg := srv.request(i).Header.Get("Range"); rg != "" {
			ranges[rg]++
		} else {
			plain++
		}
	}
	assert.Equal(t, 1, plain, "the plain GET that got a part is not retried")
	for rg, n := range ranges {
		assert.Equal(t, 1, n, "%s: no chunk is retried once the server ignores ranges", rg)
	}
	assert.LessOrEqual(t, len(ranges), 1+o.Connections+2, "the probe, its resume, a window of chunks: %v", ranges)
	e.assertClean(t)
}

// A server whose every answer is a new version of the file and is cut off
// mid-body (a resume always finds another version) makes the download start
// over each time; that is bounded by the source's fault cap (MaxFaults),
// and the source is then given up with a message that says why.
func TestServerThatRestartsEveryDownloadIsGivenUp(t *testing.T) {
	data := randomBytes(300_000, 96)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, n))
		w.Header().Set("Accept-Ranges", "bytes")
		if r.Header.Get("Range") != "" {
			r.Header.Del("If-Range") // ignored: a 206 of another version
			http.ServeContent(w, r, "m", time.Unix(0, 0), bytes.NewReader(data))
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(200)
		w.Write(data[:100_000])
		panic(http.ErrAbortHandler)
	})
	e := newEnv(t)
	o := e.opts()
	o.Retries, o.MaxFaults = 100, 6 // each pass makes progress, so only the cap ends it
	r := e.install(t, o, model(data, srv.URL+"/m.bin"))
	require.Error(t, r.Err)
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Equal(t, KindNetwork, fe.Kind)
	assert.NotContains(t, fe.Error(), "start over", "an internal start-over is never the final message")
	// Each pass is a cut-off GET and a resume that finds a new version.
	assert.LessOrEqual(t, srv.count(), 16, "bounded by the fault cap (6), not by the tries (100)")
	assert.Contains(t, fe.Error(), "truncated: got 100000 of 300000 bytes", "the last real fault")
	e.assertClean(t)
}
