package fetch

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/djok/modelfetch/pkg/manifest"
)

// DefaultHubEndpoint is where hf:// sources are read from when
// HubOptions.Endpoint is nil (huggingface_hub's default HF_ENDPOINT).
const DefaultHubEndpoint = "https://huggingface.co"

// HubOptions say where hf:// sources are read from.
type HubOptions struct {
	// Endpoint is the Hub's base URL (HF_ENDPOINT: the Hub, an internal
	// mirror, an artifact proxy's Hugging Face remote); nil means
	// DefaultHubEndpoint.
	Endpoint *url.URL
	// Token goes as "Authorization: Bearer TOKEN" to the endpoint's own
	// host and port, over https only: never to the storage a resolve
	// redirects to, never over plain http.
	Token string
	// Refuse, when set, says why no request may go to the endpoint's host
	// (the url rules block it); asked before every request to it, so that
	// neither a question nor the token goes there.
	Refuse func(host string) error
}

// refused is the *HubError of a request to u (the endpoint) the url rules
// forbid, or nil.
func (o HubOptions) refused(r *manifest.Ref, u *url.URL) error {
	if o.Refuse == nil {
		return nil
	}
	if err := o.Refuse(u.Host); err != nil {
		return &HubError{Repo: r.TypePrefix() + r.Repo, Rev: r.DecodedRev(), Pin: r.Pin, Path: r.Path, Host: u.Host, Blocked: err}
	}
	return nil
}

// endpoint is the Hub's base URL, without a trailing slash.
func (o HubOptions) endpoint() *url.URL {
	if o.Endpoint != nil {
		u := *o.Endpoint
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = strings.TrimSuffix(u.RawPath, "/")
		return &u
	}
	u, _ := url.Parse(DefaultHubEndpoint)
	return u
}

// hubURL is the endpoint's URL for rest, an escaped path below it.
func (o HubOptions) hubURL(rest string) (*url.URL, error) {
	return url.Parse(o.endpoint().String() + "/" + rest)
}

// ResolveURL is where the Hub serves the file r names, at rev (its pin, or
// the revision written, when rev is ""):
// {endpoint}/[TYPE/]ORG/REPO/resolve/REV/PATH.
func (o HubOptions) ResolveURL(r *manifest.Ref, rev string) (*url.URL, error) {
	if rev == "" {
		rev = r.Target()
		if r.Pin == "" {
			rev = r.DecodedRev()
		}
	}
	return o.hubURL(r.TypePrefix() + r.Repo + "/resolve/" + url.PathEscape(rev) + "/" + manifest.EscapePath(r.Path))
}

// htmlError is a web page served where a file was expected (a login page,
// a proxy's error page).
type htmlError struct{ ctype string }

func (e *htmlError) Error() string {
	return "served a web page (" + e.ctype + ") where a file was expected"
}

// hubInspect is the httpSource hook of an hf:// source: the Hub's refusals
// become a *HubError at once, and a web page where a file was expected an
// error, before the pipeline sees a byte. host is the endpoint's host:port;
// the storage a resolve redirects to keeps the expired-link handling.
func hubInspect(r *manifest.Ref, host string, tok hubTok, model string) func(*http.Response) error {
	return func(resp *http.Response) error {
		fromHub := resp.Request != nil && resp.Request.URL.Host == host
		switch c := resp.StatusCode; {
		case fromHub && (c == http.StatusUnauthorized || c == http.StatusForbidden),
			c == http.StatusNotFound && resp.Header.Get("X-Error-Code") != "":
			return &permanentError{&HubError{Repo: r.TypePrefix() + r.Repo, Rev: r.DecodedRev(), Pin: r.Pin, Path: r.Path,
				Status: c, Code: resp.Header.Get("X-Error-Code"), Message: hubMessage(resp.Header.Get("X-Error-Message")),
				Token: tok.sent, Withheld: tok.withheld, Model: model}}
		case c == http.StatusOK || c == http.StatusPartialContent:
			if ct := resp.Header.Get("Content-Type"); r.Path != "" && isHTML(ct) && !htmlName(r.Path) {
				return &permanentError{&htmlError{ctype: ct}}
			}
		}
		return nil
	}
}

func isHTML(ctype string) bool {
	mt, _, err := mime.ParseMediaType(ctype)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

// htmlName reports whether a file is a web page by its name: the Hub may
// serve it as one.
func htmlName(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".html", ".htm", ".xhtml":
		return true
	}
	return false
}

// openRef opens a hub or registry source.
func (f *Fetcher) openRef(model string, src *manifest.Source, expect int64, newRetrier func() *retrier) (source, error) {
	switch src.Ref.Scheme {
	case manifest.SchemeHF:
		u, err := f.o.Hub.ResolveURL(src.Ref, "")
		if err == nil {
			err = f.o.Hub.refused(src.Ref, u)
		}
		if err != nil {
			return nil, &permanentError{err}
		}
		hs := f.httpSource(u, expect, newRetrier)
		hs.client = f.hubClient()
		hs.inspect = hubInspect(src.Ref, u.Host, f.hubTok(), model)
		return hs, nil
	}
	return nil, &permanentError{fmt.Errorf("%s:// sources are not supported by this build", src.Ref.Scheme)}
}

// hubToken is the token that goes to the endpoint: none over plain http.
// It is read as huggingface_hub reads HF_TOKEN: without CR, LF and the
// spaces around it (a secret file written by echo ends in a newline).
func (f *Fetcher) hubToken() string {
	if f.o.Hub.endpoint().Scheme != "https" {
		return ""
	}
	return f.o.Hub.token()
}

func (o HubOptions) token() string {
	return strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(o.Token))
}

// hubTok says what became of the token on a request to the Hub.
type hubTok struct{ sent, withheld bool }

func (f *Fetcher) hubTok() hubTok {
	sent := f.hubToken() != ""
	return hubTok{sent: sent, withheld: !sent && f.o.Hub.token() != ""}
}

// hubClient is the fetcher's client, with the Hub's token added to the
// requests to the endpoint's host and port only (a redirect to another
// host, its storage, never carries it).
func (f *Fetcher) hubClient() *http.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hubc == nil {
		c := *f.client
		if tok := f.hubToken(); tok != "" {
			next := c.Transport
			if next == nil {
				next = http.DefaultTransport
			}
			c.Transport = &hubAuth{next: next, host: f.o.Hub.endpoint().Host, value: "Bearer " + tok}
		}
		f.hubc = &c
	}
	return f.hubc
}

// hubAuth sets the Hub's token on requests to its host over https.
type hubAuth struct {
	next  http.RoundTripper
	host  string
	value string
}

func (t *hubAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" || req.URL.Host != t.host {
		if req.Header.Get("Authorization") == t.value {
			// Never carried past the Hub, whatever copied it.
			req = req.Clone(req.Context())
			req.Header.Del("Authorization")
		}
		return t.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", t.value)
	return t.next.RoundTrip(r)
}

// IsHubError reports whether err is the Hub refusing a request (final).
func IsHubError(err error) bool {
	var he *HubError
	return errors.As(err, &he)
}

// dialURL is the URL whose host a source's connections go to, for the
// hosts a run gives up on (dead.go): an hf:// source's is the Hub's
// endpoint, not the organisation its reference names first.
func (f *Fetcher) dialURL(src *manifest.Source) *url.URL {
	if src.Ref != nil && src.Ref.Scheme == manifest.SchemeHF {
		if u, err := f.o.Hub.ResolveURL(src.Ref, ""); err == nil {
			return u
		}
	}
	return src.Parsed
}
