package fetch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// toxicProxy puts a real fault-injecting TCP proxy (Shopify's toxiproxy,
// in-process) between the fetcher and upstream, with one toxic always on.
func toxicProxy(t *testing.T, upstream string, toxics ...string) string {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	p := toxiproxy.NewProxy(srv, t.Name(), "127.0.0.1:0", strings.TrimPrefix(upstream, "http://"))
	require.NoError(t, p.Start())
	t.Cleanup(p.Stop)
	for _, toxic := range toxics {
		_, err := p.Toxics.AddToxicJson(strings.NewReader(toxic))
		require.NoError(t, err)
	}
	return "http://" + p.Listen
}

func newTLSServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	s := httptest.NewTLSServer(h)
	t.Cleanup(s.Close)
	return s
}

// faultRuns is how many times each fault runs: a few in CI, more with
// MODELFETCH_FAULT_RUNS for the report in docs/RELIABILITY.md.
func faultRuns() int {
	if n := os.Getenv("MODELFETCH_FAULT_RUNS"); n != "" {
		var v int
		fmt.Sscan(n, &v)
		if v > 0 {
			return v
		}
	}
	return 1
}

func TestFaultsThroughToxiproxy(t *testing.T) {
	if testing.Short() {
		t.Skip("fault matrix")
	}
	data := randomBytes(300_000, 70)
	good := newServer(t, serveRanges(data))
	origin := newServer(t, serveRanges(data))
	toxic := func(typ, attrs string) string {
		return fmt.Sprintf(`{"name":%q,"type":%q,"stream":"downstream","toxicity":1,"attributes":{%s}}`, typ, typ, attrs)
	}
	for _, tc := range []struct {
		name   string
		toxics []string
		// alone: the outcome with the faulty source only ("" means success,
		// else the failure kind).
		alone Kind
	}{
		{name: "latency", toxics: []string{toxic("latency", `"latency":50,"jitter":20`)}},
		{name: "bandwidth collapse", toxics: []string{toxic("bandwidth", `"rate":100`)}}, // KB/s: slow, but no deadline
		{name: "slicer", toxics: []string{toxic("slicer", `"average_size":64,"size_variation":32,"delay":10`)}},
		{name: "slow close", toxics: []string{toxic("slow_close", `"delay":300`)}},
		// Every connection is cut short, each a little further in: resumed to the end.
		{name: "truncated every time (limit_data)", toxics: []string{toxic("limit_data", `"bytes":120000`)}},
		// reset_peer swallows what it holds and sends RST: nothing ever
		// arrives. (Resets after some bytes are the httptest cases.)
		{name: "connection reset every time (reset_peer)", toxics: []string{toxic("reset_peer", `"timeout":20`)}, alone: KindNetwork},
		// Nothing ever arrives: the idle timeout catches it, retries run out.
		{name: "peer stops sending (timeout)", toxics: []string{toxic("timeout", `"timeout":0`)}, alone: KindNetwork},
	} {
		for _, withMirror := range []bool{false, true} {
			name := tc.name + map[bool]string{false: ", alone", true: ", with a good mirror"}[withMirror]
			t.Run(name, func(t *testing.T) {
				for run := 0; run < faultRuns(); run++ {
					proxy := toxicProxy(t, origin.URL, tc.toxics...)
					e := newEnv(t)
					o := e.opts()
					o.IdleTimeout = 300 * time.Millisecond
					o.Retries = 3
					urls := []string{proxy + "/m.bin"}
					if withMirror {
						urls = append(urls, good.URL+"/m.bin")
					}
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					res := New(o).Install(ctx, []Target{e.target(model(data, urls...))})
					cancel()
					r := res[0]
					if tc.alone == 0 || withMirror {
						require.NoError(t, r.Err, "retries: %v", e.obs.retries)
						assert.Equal(t, data, readFile(t, r.Dest))
						e.assertClean(t, "sub/dir/m.bin")
						continue
					}
					var fe *Error
					require.ErrorAs(t, r.Err, &fe)
					assert.Equal(t, tc.alone, fe.Kind, "%v (retries: %v)", fe, e.obs.retries)
					for _, l := range fe.Lines() {
						assert.True(t, strings.HasPrefix(l, "m: "+proxy+"/m.bin: "), l)
						assert.NotContains(t, l, "\n")
					}
					e.assertClean(t)
				}
			})
		}
	}
}

func TestHTTPSNeverDowngradesToHTTP(t *testing.T) {
	data := randomBytes(1000, 71)
	plain := newServer(t, serveRanges(data))
	tlsSrv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/m.bin", http.StatusFound)
	})
	e := newEnv(t)
	o := e.opts()
	o.Client = NewClient(nil, nil, time.Second)
	o.Client.Transport.(*authTransport).next.(*http.Transport).TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	r := e.install(t, o, model(data, tlsSrv.URL+"/m.bin"))
	var fe *Error
	require.ErrorAs(t, r.Err, &fe)
	assert.Contains(t, fe.Error(), "refusing a redirect from https to http")
	assert.Equal(t, 0, plain.count())
}
