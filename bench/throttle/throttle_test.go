package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The timed tests pace a few hundred KB at a few hundred KB/s: long enough
// that a missing limit shows, short enough to keep the package under 10 s.
const (
	rate = 256 << 10 // bytes/s
	size = 192 << 10 // bytes: 0.75 s at rate
	want = time.Duration(float64(size) / rate * float64(time.Second))
)

// serve starts a throttle on a folder holding "f" (size random bytes) and
// "small" (one byte), and returns it with f's content.
func serve(t *testing.T, c config) (*server, []byte) {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), data, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "small"), []byte("x"), 0o644))
	c.dir = dir
	c.addr = "127.0.0.1:0"
	s, err := start(c)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, data
}

// client trusts s's CA when it has one; h2 offers HTTP/2 over TLS.
func client(t *testing.T, s *server, h2 bool) *http.Client {
	t.Helper()
	tr := &http.Transport{ForceAttemptHTTP2: h2, DisableCompression: true}
	if s.caPEM != nil {
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(s.caPEM))
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		if !h2 {
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// timeGets fetches url n times at once with c and returns how long all took.
func timeGets(t *testing.T, c *http.Client, url string, n int, data []byte) time.Duration {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	t0 := time.Now()
	for range n {
		wg.Go(func() {
			resp, err := c.Get(url)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil && !bytes.Equal(b, data) {
				err = fmt.Errorf("%s: body differs", url)
			}
			errs <- err
		})
	}
	wg.Wait()
	d := time.Since(t0)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return d
}

func TestHTTPSNegotiatesH2AndServesRanges(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	s, data := serve(t, config{tls: true, caFile: ca})
	written, err := os.ReadFile(ca)
	require.NoError(t, err)
	require.Equal(t, s.caPEM, written, "the CA file is what clients trust")

	req, err := http.NewRequest(http.MethodGet, s.url+"/f", nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err := client(t, s, true).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, "h2", resp.TLS.NegotiatedProtocol)
	assert.Equal(t, 2, resp.ProtoMajor)
	assert.Equal(t, data[1000:2000], b)

	// A client that offers only HTTP/1.1 (aria2c, wget) is served too.
	resp, _ = get(t, client(t, s, false), s.url+"/small")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, resp.ProtoMajor)
}

func TestOneConnectionIsPacedAtRate(t *testing.T) {
	t.Parallel()
	s, data := serve(t, config{rate: rate})
	d := timeGets(t, client(t, s, false), s.url+"/f", 1, data)
	assert.GreaterOrEqual(t, d, want*9/10, "faster than the rate")
	assert.Less(t, d, want*2)
}

func TestTwoConnectionsGetTwiceTheRate(t *testing.T) {
	t.Parallel()
	s, data := serve(t, config{rate: rate})
	d := timeGets(t, client(t, s, false), s.url+"/f", 2, data)
	assert.Equal(t, int64(2), s.accepted())
	// Twice the bytes in the time of one file: 2× the rate in total.
	assert.GreaterOrEqual(t, d, want*9/10)
	assert.Less(t, d, want*16/10, "the two connections did not get 2× the rate")
}

func TestHTTP2StreamsShareTheirConnectionsRate(t *testing.T) {
	t.Parallel()
	s, data := serve(t, config{rate: rate, tls: true})
	c := client(t, s, true)
	get(t, c, s.url+"/small") // one connection, then two streams on it
	d := timeGets(t, c, s.url+"/f", 2, data)
	assert.Equal(t, int64(1), s.accepted())
	assert.GreaterOrEqual(t, d, want*2*9/10, "two streams on one connection beat its rate")
}

func TestIdleConnectionGetsNoBurst(t *testing.T) {
	t.Parallel()
	s, data := serve(t, config{rate: rate})
	c := client(t, s, false)
	get(t, c, s.url+"/small")
	time.Sleep(want * 4 / 3) // idle long enough to have earned all of f
	d := timeGets(t, c, s.url+"/f", 1, data)
	assert.Equal(t, int64(1), s.accepted(), "the idle connection was not reused")
	assert.GreaterOrEqual(t, d, want*9/10, "the idle connection started with a burst")
}

func TestLinkCapIsSharedByAllConnections(t *testing.T) {
	t.Parallel()
	s, data := serve(t, config{link: 2 * rate})
	d := timeGets(t, client(t, s, false), s.url+"/f", 4, data)
	assert.Equal(t, int64(4), s.accepted())
	assert.GreaterOrEqual(t, d, want*2*9/10, "four connections beat the link")
	assert.Less(t, d, want*2*16/10)
}

func TestRedirectHopAnswers302ToTheSecondListener(t *testing.T) {
	t.Parallel()
	s, data := serve(t, config{tls: true, redirect: true})
	require.NotEqual(t, s.url, s.dataURL)
	c := client(t, s, true)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := get(t, c, s.url+"/f?x=1")
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, s.dataURL+"/f?x=1", resp.Header.Get("Location"))

	resp, b := get(t, client(t, s, true), s.url+"/f")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, data, b)
}

func TestBucketStartsEmptyAndKeepsNoIdleCredit(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket(1000, t0) // 1000 B/s: 10 B of burst
	assert.Equal(t, 100*time.Millisecond, b.take(100, t0), "a new bucket is empty")
	// Reservations queue: the next 100 B go out 100 ms after the first.
	assert.Equal(t, 200*time.Millisecond, b.take(100, t0))
	// After an hour idle, only the 10 B burst is banked.
	assert.Equal(t, 90*time.Millisecond, b.take(100, t0.Add(time.Hour)))
}

// lockedBuffer is a bytes.Buffer the server's goroutines may write to while
// the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestCountLogsEachFileRequestWithTheBytesSent(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	s, _ := serve(t, config{countTo: &logs})
	c := client(t, s, false)
	req, err := http.NewRequest(http.MethodGet, s.url+"/f", nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	get(t, c, s.url+"/f")
	head, err := c.Head(s.url + "/small")
	require.NoError(t, err)
	head.Body.Close()
	get(t, c, s.url+"/missing")
	want := fmt.Sprintf("throttle: served GET /f 206 1000\nthrottle: served GET /f 200 %d\n"+
		"throttle: served HEAD /small 200 0\nthrottle: served GET /missing 404 19\n", size)
	// The handler logs after the client has its last byte: wait for it.
	require.Eventually(t, func() bool { return logs.String() == want }, 5*time.Second, 10*time.Millisecond, "log: %q", logs.String())
}

func TestTimelineSamplesRequestsInFlightAndBytes(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	s, data := serve(t, config{rate: rate, timeline: newTimeline(&out, 50*time.Millisecond)})
	c := client(t, s, false)
	timeGets(t, c, s.url+"/f", 2, data) // two connections, 0.75 s each at rate
	time.Sleep(150 * time.Millisecond)  // the last samples
	var sent int64
	sawTwo := false
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var at float64
		var flight int
		var n int64
		_, err := fmt.Sscanf(line, "%f %d %d", &at, &flight, &n)
		require.NoError(t, err, line)
		sent += n
		sawTwo = sawTwo || strings.HasSuffix(line, " f=2")
	}
	assert.True(t, sawTwo, "two requests for f in flight: %q", out.String())
	assert.Equal(t, int64(2*size), sent, "every body byte counted once")
}
