package fetch

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/manifest"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// dialCounter is an HTTP client that counts the connections it opens to addr.
func dialCounter(addr string) (*http.Client, *atomic.Int32) {
	var n atomic.Int32
	d := &net.Dialer{Timeout: 2 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		if a == addr {
			n.Add(1)
		}
		return d.DialContext(ctx, network, a)
	}}
	return &http.Client{Transport: tr}, &n
}

// threeModels share a dead first source and a good second one.
func threeModels(data []byte, dead, good string) []*manifest.Model {
	var ms []*manifest.Model
	for _, name := range []string{"a", "b", "c"} {
		m := model(data, "http://"+dead+"/"+name, good+"/"+name)
		m.Name, m.Path = name, name+".bin"
		ms = append(ms, m)
	}
	return ms
}

func TestDeadHostIsTriedOncePerRun(t *testing.T) {
	data := randomBytes(10_000, 7)
	good := newServer(t, serveRanges(data))
	dead := closedPort(t)
	for _, jobs := range []int{1, 3} {
		e := newEnv(t)
		client, dials := dialCounter(dead)
		o := e.opts()
		o.Cache, o.Jobs, o.Client, o.Retries = nil, jobs, client, 5
		var targets []Target
		for _, m := range threeModels(data, dead, good.URL) {
			targets = append(targets, e.target(m))
		}
		start := time.Now()
		res := New(o).Install(context.Background(), targets)
		for _, r := range res {
			require.NoError(t, r.Err)
			assert.Equal(t, good.URL+"/"+r.Name, r.Source)
			assert.Zero(t, r.Retries, "a refused connection is not retried when another source waits")
		}
		if jobs == 1 {
			assert.Equal(t, int32(1), dials.Load(), "one attempt for the whole run, not one per model")
		} else {
			assert.LessOrEqual(t, dials.Load(), int32(3), "at most one attempt per model already under way")
		}
		assert.Less(t, time.Since(start), 2*time.Second)
		failed := strings.Join(e.obs.failed, "\n")
		if jobs == 1 {
			assert.Equal(t, 2, strings.Count(failed, "not tried: "+dead+" was unreachable earlier in this run (dial: connect: connection refused)"), failed)
		}
	}
}

func TestRefusedLastSourceIsStillRetried(t *testing.T) {
	dead := closedPort(t)
	client, dials := dialCounter(dead)
	e := newEnv(t)
	o := e.opts()
	o.Cache, o.Client, o.Retries = nil, client, 2
	f := New(o)
	r := f.Install(context.Background(), []Target{e.target(model([]byte("x"), "http://"+dead+"/x"))})[0]
	require.Error(t, r.Err)
	assert.Equal(t, int32(3), dials.Load(), "a server that may come back is retried when it is the only source")
	// Given up on now: another artifact does not try it again.
	m := model([]byte("y"), "http://"+dead+"/y")
	m.Path = "y"
	r = f.Install(context.Background(), []Target{e.target(m)})[0]
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "not tried: "+dead+" was unreachable earlier in this run")
	assert.Equal(t, int32(3), dials.Load())
}

func TestDeadHostKeys(t *testing.T) {
	var d deadHosts
	refused := &net.OpError{Op: "dial", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	u := srcOf("http://Proxy.example/a", 0).Parsed
	d.mark(u, refused)
	assert.Error(t, d.check(srcOf("http://proxy.example:80/b", 0).Parsed), "the same host and port")
	assert.NoError(t, d.check(srcOf("http://proxy.example:8080/b", 0).Parsed), "another port is another server")
	assert.NoError(t, d.check(srcOf("https://proxy.example/b", 0).Parsed), "another scheme is another port")

	other := srcOf("http://other.example/a", 0).Parsed
	d.mark(other, &net.DNSError{Err: "no such host", Name: "other.example", IsTimeout: true})
	assert.NoError(t, d.check(other), "a DNS timeout is not a name that does not exist")
}
