package mirror

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testsrv"
	"github.com/djok/modelfetch/pkg/digest"
)

func isBlobHEAD(r *http.Request) bool {
	return r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/blobs/sha256:")
}

// A registry that answers 200 to every blob HEAD, with a Content-Length
// that is not the blob's: the blob is uploaded all the same, and since the
// registry then still claims another size, the push fails with nothing
// tagged (issue 26).
func TestPushDoesNotBelieveHEAD(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	f := newFront(t, reg)
	f.gate = func(w http.ResponseWriter, r *http.Request) bool {
		if isBlobHEAD(r) {
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusOK)
			return false
		}
		return true
	}
	b := blob("big", "big.dat", data(60, 100000))
	rep, err := Push(context.Background(), mirrorAt(t, f.host(), "models:v1"), []Blob{b}, PushOptions{Client: noRetry()})
	require.Error(t, err)
	t.Log(err)
	require.NotNil(t, rep)
	assert.Equal(t, []BlobStatus{BlobFailed}, statuses(rep))
	assert.Contains(t, err.Error(), "accepted the upload to models but does not serve the blob")
	assert.Contains(t, err.Error(), "so the tag was left as it was")
	assert.Equal(t, 1, f.count("PUT upload"), "a HEAD that claims 5 bytes does not stand for 100,000")
	code, _, _ := get(t, reg.Addr, "/v2/models/manifests/v1", ocispec.MediaTypeImageManifest)
	assert.Equal(t, http.StatusNotFound, code, "nothing tagged")

	// A HEAD that names another digest (once): the blob is uploaded, the
	// next HEAD tells the truth, and the push completes.
	var mu sync.Mutex
	lied := map[string]bool{}
	f.gate = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if isBlobHEAD(r) && !lied[r.URL.Path] {
			lied[r.URL.Path] = true
			w.Header().Set("Content-Length", "100000")
			w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("0", 64))
			w.WriteHeader(http.StatusOK)
			return false
		}
		return true
	}
	f.reset()
	other := blob("other", "other.dat", data(61, 100000))
	rep, err = Push(context.Background(), mirrorAt(t, f.host(), "models:v2"), []Blob{other}, PushOptions{Client: noRetry()})
	require.NoError(t, err)
	assert.Equal(t, []BlobStatus{BlobUploaded}, statuses(rep))
	assert.FileExists(t, reg.BlobPath(other.Digest.String()))
	code, _, _ = get(t, reg.Addr, "/v2/models/manifests/v2", ocispec.MediaTypeImageManifest)
	assert.Equal(t, http.StatusOK, code)
}

// An upload Location on a file: URL is refused, and the message says why.
func TestPushRefusedLocationNamesItsReason(t *testing.T) {
	for _, tc := range []struct{ location, want string }{
		{"file:///etc/passwd", `Location "file:///etc/passwd" is refused: a file: URL (only http and https are followed)`},
		{"http://elsewhere.example:5000/v2/models/blobs/uploads/x?_state=SECRET", `Location "http://elsewhere.example:5000/v2/models/blobs/uploads/x" is refused: it is on host elsewhere.example:5000, not the registry's`},
	} {
		t.Run(tc.location, func(t *testing.T) {
			reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
			f := newFront(t, reg)
			var posts atomic.Int32
			f.gate = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/") {
					posts.Add(1)
					w.Header().Set("Location", tc.location)
					w.WriteHeader(http.StatusAccepted)
					return false
				}
				return true
			}
			b := blob("a", "a.dat", data(62, 1000))
			_, err := Push(context.Background(), mirrorAt(t, f.host(), "models"), []Blob{b}, PushOptions{Client: noRetry(), Retries: 3})
			require.Error(t, err)
			t.Log(err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), `Location ""`)
			assert.NotContains(t, err.Error(), "SECRET")
			assert.Equal(t, int32(1), posts.Load(), "a refused location is not retried")
		})
	}
}

// reset answers r by cutting the connection (TCP RST) after reading part
// of its body: a load balancer dropping an upload.
func reset(t *testing.T, w http.ResponseWriter, r *http.Request) {
	_, _ = io.CopyN(io.Discard, r.Body, 16<<10)
	conn, _, err := http.NewResponseController(w).Hijack()
	require.NoError(t, err)
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// faults is a gate that fails the first n requests of each kind it picks:
// 503s (with Retry-After) on starting an upload, resets during the PUT of
// its bytes, a 502 on a HEAD.
type faults struct {
	mu   sync.Mutex
	left map[string]int
	hit  int
}

func (fs *faults) gate(t *testing.T) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		kind := ""
		switch {
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/"):
			kind = "POST"
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/"):
			kind = "PUT"
		case isBlobHEAD(r):
			kind = "HEAD"
		}
		fs.mu.Lock()
		fail := fs.left[kind] > 0
		if fail {
			fs.left[kind]--
			fs.hit++
		}
		fs.mu.Unlock()
		switch {
		case !fail:
			return true
		case kind == "POST":
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case kind == "PUT":
			reset(t, w, r)
		default:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		}
		return false
	}
}

func countOpens(b Blob, n *atomic.Int32) Blob {
	open := b.Open
	b.Open = func() (io.ReadCloser, error) { n.Add(1); return open() }
	return b
}

var quickRetries = PushOptions{Retries: 5, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond}

// Transient faults on blob uploads (issue 21): each is retried in a new
// upload session with the file opened again, the push ends complete and
// correct, and the retries are counted.
func TestPushRetriesTransientFaults(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	f := newFront(t, reg)
	fs := &faults{left: map[string]int{"POST": 2, "PUT": 3, "HEAD": 1}}
	f.gate = fs.gate(t)
	var opens atomic.Int32
	files := [][]byte{data(70, 200<<10), data(71, 90<<10), data(72, 10)}
	var blobs []Blob
	for i, b := range files {
		blobs = append(blobs, countOpens(blob("m", "f"+string(rune('a'+i))+".dat", b), &opens))
	}
	o := quickRetries
	o.Client = noRetry()
	rep, err := Push(context.Background(), mirrorAt(t, f.host(), "models:v1"), blobs, o)
	require.NoError(t, err)
	assert.Equal(t, []BlobStatus{BlobUploaded, BlobUploaded, BlobUploaded}, statuses(rep))
	assert.Equal(t, 6, fs.hit)
	assert.Equal(t, fs.hit, rep.Retries, "every fault is one retry, counted")
	sum := 0
	for _, b := range rep.Blobs {
		sum += b.Retries
	}
	assert.LessOrEqual(t, sum, rep.Retries)
	assert.GreaterOrEqual(t, int(opens.Load()), len(files)+3, "a reset upload opens its file again")
	for _, b := range files {
		code, got, _ := get(t, reg.Addr, "/v2/models/blobs/sha256:"+digest.Of(b).String(), "")
		require.Equal(t, http.StatusOK, code)
		assert.True(t, bytes.Equal(b, got))
	}
	code, _, _ := get(t, reg.Addr, "/v2/models/manifests/v1", ocispec.MediaTypeImageManifest)
	assert.Equal(t, http.StatusOK, code)
}

// Faults that outlast the retries fail the blob, and nothing is tagged.
func TestPushRetriesSpent(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	f := newFront(t, reg)
	fs := &faults{left: map[string]int{"PUT": 1000}}
	f.gate = fs.gate(t)
	o := quickRetries
	o.Client, o.Retries = noRetry(), 2
	b := blob("a", "a.dat", data(73, 50<<10))
	rep, err := Push(context.Background(), mirrorAt(t, f.host(), "models:v1"), []Blob{b}, o)
	require.Error(t, err)
	t.Log(err)
	require.NotNil(t, rep)
	assert.Equal(t, []BlobStatus{BlobFailed}, statuses(rep))
	assert.Equal(t, 2, rep.Retries)
	assert.Equal(t, 3, fs.hit, "one try and two retries")
	assert.NotContains(t, err.Error(), "_state", "the upload session's signed state is not shown")
	code, _, _ := get(t, reg.Addr, "/v2/models/manifests/v1", ocispec.MediaTypeImageManifest)
	assert.Equal(t, http.StatusNotFound, code)
}

// A cancelled push does not wait out a Retry-After.
func TestPushCancelledDuringBackoff(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	f := newFront(t, reg)
	f.gate = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	o := quickRetries
	o.Client = noRetry()
	start := time.Now()
	_, err := Push(ctx, mirrorAt(t, f.host(), "models"), []Blob{blob("a", "a.dat", data(74, 10))}, o)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
}
