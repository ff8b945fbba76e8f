package fetch

import (
	"context"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"time"
)

// Credentials finds the Authorization header value for a host ("" for none).
// It is asked for every request, redirects included, with that request's own
// host, so a credential never travels to a host it was not given for.
type Credentials func(scheme, host string) string

// maxRedirects bounds a redirect chain (loops end here too).
const maxRedirects = 10

// NewClient returns the HTTP client the fetcher uses by default: proxies from
// proxy (nil: none), per-host credentials, bounded redirects, and timeouts on
// connecting and on waiting for headers, never on the whole body.
//
// It speaks HTTP/1.1 only, on purpose. Parallelism comes from ranged
// requests over separate TCP connections; over HTTP/2 the transport puts
// every request to a host on one multiplexed connection, and CDNs pace each
// connection, so eight chunks would share one connection's rate (measured
// in docs/BENCHMARKS.md; replicate/pget and aria2c make the same choice).
func NewClient(proxy func(*http.Request) (*neturl.URL, error), creds Credentials, idle time.Duration) *http.Client {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: idle,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		Protocols:             &protocols,
		DisableCompression:    true,
		// A proxy that refuses CONNECT answers with a status, not an error
		// type: keep the code, so a 407 is permanent as on plain http.
		OnProxyConnectResponse: func(_ context.Context, _ *neturl.URL, _ *http.Request, res *http.Response) error {
			if res.StatusCode == http.StatusOK {
				return nil
			}
			return &StatusError{Code: res.StatusCode, Proxy: true}
		},
	}
	return &http.Client{
		Transport: &authTransport{next: tr, creds: creds},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return &redirectError{fmt.Sprintf("stopped after %d redirects", maxRedirects)}
			}
			switch req.URL.Scheme {
			case "http", "https":
			default:
				return &redirectError{"refusing a redirect to a " + req.URL.Scheme + ": url"}
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return &redirectError{"refusing a redirect from https to " + req.URL.Scheme}
			}
			// The client would tell the next host where we came from, query
			// string (a token, a signature) included.
			req.Header.Del("Referer")
			return nil
		},
	}
}

// authTransport adds the credential of each request's own host.
type authTransport struct {
	next  http.RoundTripper
	creds Credentials
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.creds == nil || req.Header.Get("Authorization") != "" {
		return t.next.RoundTrip(req)
	}
	v := t.creds(req.URL.Scheme, strings.ToLower(req.URL.Hostname()))
	if v == "" {
		return t.next.RoundTrip(req)
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
		// A token such as HF_TOKEN with a CR or LF in it: net/http would
		// refuse it on every try; it is this machine's setting, final.
		return nil, &permanentError{fmt.Errorf("the credential for %s holds a control character (such as CR or LF), which no HTTP header can carry", req.URL.Hostname())}
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", v)
	return t.next.RoundTrip(r)
}
