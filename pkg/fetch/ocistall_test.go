package fetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stallingRegistry answers every manifest GET with its headers and the
// first bytes, then sends a byte every drip (never, when drip is 0) until
// the request ends. gets counts the GETs.
func stallingRegistry(t *testing.T, drip time.Duration) (host string, gets *atomic.Int64) {
	gets = new(atomic.Int64)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Content-Length", "100000")
		_, _ = io.WriteString(w, `{"schemaVersion":2,`)
		w.(http.Flusher).Flush()
		var tick <-chan time.Time
		if drip > 0 {
			tk := time.NewTicker(drip)
			defer tk.Stop()
			tick = tk.C
		}
		for {
			select {
			case <-release:
				return
			case <-r.Context().Done():
				return
			case <-tick:
				_, _ = io.WriteString(w, " ")
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return strings.TrimPrefix(srv.URL, "http://"), gets
}

// TestOCIStalledManifestGivesUpTheRegistry: a manifest body that stops is
// a stall at the idle timeout (not four of them), and the registry is
// given up for the run: the next models on it are not tried, so three
// models pinned to one stalled registry cost one model's tries.
func TestOCIStalledManifestGivesUpTheRegistry(t *testing.T) {
	host, gets := stallingRegistry(t, 0)
	e := newEnv(t)
	o := e.opts()
	o.Cache, o.Retries, o.IdleTimeout, o.Jobs = nil, 1, 200*time.Millisecond, 1
	var targets []Target
	for i := range 3 {
		m := ociModel(t, fmt.Sprintf("oci+http://%s/acme/m:v1#m%d.bin", host, i), []byte("x"), "")
		m.Name, m.Path = fmt.Sprintf("m%d", i), fmt.Sprintf("m%d.bin", i)
		targets = append(targets, e.target(m))
	}
	start := time.Now()
	res := New(o).Install(context.Background(), targets)
	took := time.Since(start)
	require.Len(t, res, 3)
	var stalled, skipped int
	for _, r := range res { // whichever model went first (jobs take turns in any order)
		require.Error(t, r.Err)
		switch {
		case strings.Contains(r.Err.Error(), "not tried"):
			skipped++
		case strings.Contains(r.Err.Error(), "stalled: the registry sent nothing of the manifest for 200ms"):
			stalled++
		}
	}
	assert.Equal(t, [2]int{1, 2}, [2]int{stalled, skipped}, "one model stalled, the others not tried: %v", res)
	assert.LessOrEqual(t, gets.Load(), int64(2), "the first model's two tries, and no more")
	assert.Less(t, took, 1500*time.Millisecond)
}

// TestOCIDrippedManifest: a registry that drips a manifest, a byte at a
// time within the idle timeout, is given up at the manifest's deadline of
// four idle timeouts.
func TestOCIDrippedManifest(t *testing.T) {
	host, _ := stallingRegistry(t, 20*time.Millisecond)
	e := newEnv(t)
	o := e.opts()
	o.Cache, o.Retries, o.IdleTimeout = nil, 0, 400*time.Millisecond
	start := time.Now()
	r := e.install(t, o, ociModel(t, "oci+http://"+host+"/acme/m:v1#m.bin", []byte("x"), ""))
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "the registry did not send the manifest within 1.6s")
	var stall *StallError
	require.ErrorAs(t, r.Err, &stall, "a manifest's stall is a stall")
	assert.Equal(t, StallError{Idle: 1600 * time.Millisecond, Whole: true}, *stall)
	assert.Less(t, time.Since(start), 3*time.Second)
}

// TestOCIManifestDigestStalledOnce: lock's resolve of a tag gives a stalled
// registry up at its first stall, without retries, and every later
// resolve on it at once.
func TestOCIManifestDigestStalledOnce(t *testing.T) {
	host, gets := stallingRegistry(t, 0)
	o := newEnv(t).opts()
	o.Retries, o.IdleTimeout = 5, 200*time.Millisecond
	fe := New(o)
	start := time.Now()
	for i := range 3 {
		m := ociModel(t, fmt.Sprintf("oci+http://%s/acme/m%d:v1#m.bin", host, i), nil, "")
		_, err := fe.OCIManifestDigest(context.Background(), m.Sources[0].Ref)
		require.Error(t, err)
		if i == 0 {
			assert.Contains(t, err.Error(), "stalled: the registry sent nothing of the manifest for 200ms")
			var stall *StallError
			require.ErrorAs(t, err, &stall, "a manifest's stall is a stall")
			assert.Equal(t, StallError{Idle: 200 * time.Millisecond}, *stall)
		} else {
			assert.Contains(t, err.Error(), "not tried")
		}
	}
	assert.Equal(t, int64(1), gets.Load())
	assert.Less(t, time.Since(start), time.Second)
}

// TestManifestStallIsAStallThatGivesUpItsRegistry: a manifest's stall is a
// *StallError (transient, as any stall) with the registry's wording, and
// only it, not a stall of a body, makes its host unreachable.
func TestManifestStallIsAStallThatGivesUpItsRegistry(t *testing.T) {
	plain := &StallError{Idle: time.Second}
	err := fmt.Errorf("resolve: %w", &manifestStallError{plain})
	var stall *StallError
	require.ErrorAs(t, err, &stall)
	assert.Same(t, plain, stall)
	assert.True(t, unreachable(err))
	assert.False(t, unreachable(fmt.Errorf("body: %w", plain)))
	assert.False(t, (&manifestStallError{plain}).Permanent())
	assert.Equal(t, "resolve: stalled: the registry sent nothing of the manifest for 1s", err.Error())
	whole := &manifestStallError{&StallError{Idle: 2 * time.Minute, Whole: true}}
	assert.Equal(t, "the registry did not send the manifest within 2m0s", whole.Error())
}
