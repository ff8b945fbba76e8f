package mirror

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testsrv"
)

// A registry that accepts the connection and never answers: each try ends
// at the idle timeout, 1 + Retries of them (before, one HEAD held the push
// for the client's five minutes).
func TestPushSilentRegistryEndsAtTheIdleTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never read nor written
		}
	}()
	t.Cleanup(func() {
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	})
	o := quickRetries
	o.Client, o.Retries, o.IdleTimeout = &http.Client{Timeout: 20 * time.Second}, 1, 200*time.Millisecond
	start := time.Now()
	rep, err := Push(context.Background(), mirrorAt(t, ln.Addr().String(), "models:v1"), []Blob{blob("a", "a.dat", data(90, 10))}, o)
	require.Error(t, err)
	took := time.Since(start)
	assert.Less(t, took, 3*time.Second)
	assert.GreaterOrEqual(t, took, 400*time.Millisecond, "two tries of 200ms")
	msg := err.Error()
	if rep != nil {
		for _, b := range rep.Blobs {
			if b.Err != nil {
				msg += " " + b.Err.Error()
			}
		}
	}
	assert.Contains(t, msg, "the registry sent no answer for 200ms (--idle-timeout)")
}

// A registry that takes the start of an upload and then stops reading it:
// the upload fails at the idle timeout, not at any total deadline, and a
// registry that reads the upload slowly but steadily is not cut.
func TestPushStalledUploadEndsAtTheIdleTimeout(t *testing.T) {
	reg := testsrv.NewTestRegistry(t, testsrv.RegistryOptions{})
	f := newFront(t, reg)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.gate = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			_, _ = io.CopyN(io.Discard, r.Body, 64<<10)
			select { // stop reading: the client's writes block
			case <-release:
			case <-r.Context().Done():
			}
			return false
		}
		return true
	}
	o := quickRetries
	o.Client, o.Retries, o.IdleTimeout = noRetry(), 0, 300*time.Millisecond
	start := time.Now()
	rep, err := Push(context.Background(), mirrorAt(t, f.host(), "models:v1"), []Blob{blob("a", "a.dat", data(91, 32<<20))}, o)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	require.NotNil(t, rep)
	require.Error(t, rep.Blobs[0].Err)
	assert.Contains(t, rep.Blobs[0].Err.Error(), "for 300ms (--idle-timeout)")
}

// A request whose upload and answer each take longer in all than the idle
// timeout, a little at a time, is never cut: each byte moved restarts the
// clock.
func TestIdleTransportSlowSteadyIsNotCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		for range 8 {
			fmt.Fprintf(w, "%d;", n)
			w.(http.Flusher).Flush()
			time.Sleep(60 * time.Millisecond)
		}
	}))
	t.Cleanup(srv.Close)
	c := &http.Client{Transport: &idleTransport{next: http.DefaultTransport, idle: 200 * time.Millisecond}}
	body := &slowReader{r: strings.NewReader(strings.Repeat("x", 8<<10)), every: 60 * time.Millisecond, n: 1 << 10}
	start := time.Now()
	resp, err := c.Post(srv.URL, "application/octet-stream", body)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("8192;", 8), string(got))
	assert.Greater(t, time.Since(start), 800*time.Millisecond, "longer in all than the idle timeout")
}

// An answer whose body stops part way fails at the idle timeout with the
// stall, not the transport's "context canceled".
func TestIdleTransportStalledAnswer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := &http.Client{Transport: &idleTransport{next: http.DefaultTransport, idle: 150 * time.Millisecond}}
	resp, err := c.Get(srv.URL)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.EqualError(t, err, "the registry stopped sending its answer for 150ms (--idle-timeout)")
}

// slowReader reads at most n bytes every interval.
type slowReader struct {
	r     io.Reader
	every time.Duration
	n     int
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.every)
	return s.r.Read(p[:min(len(p), s.n)])
}
