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

// HubError is the Hub refusing what it was asked: a repository, revision
// or file that is not there, or that the request may not see. It is final:
// another try cannot help.
type HubError struct {
	Repo string // [TYPE/]ORG/REPO
	Rev  string // the revision written
	Pin  string // the commit asked for in its place, or ""
	Path string // the file, "" for an API call on the repository
	// Status is the HTTP status; Code the Hub's X-Error-Code ("" when none).
	Status int
	Code   string
	// Token says whether the request carried a token.
	Token bool
}

func (e *HubError) Error() string {
	what := "hf repo " + e.Repo
	code := fmt.Sprintf("http %d", e.Status)
	if e.Code != "" {
		code += " " + e.Code
	}
	switch {
	case e.Status == http.StatusUnauthorized && e.Code == "RepoNotFound" && !e.Token:
		return what + ": not found, or private: set HF_TOKEN (" + code + ")"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return what + ": access refused (" + code + "): it needs HF_TOKEN and an accepted licence"
	case e.Code == "RevisionNotFound":
		return fmt.Sprintf("%s: no revision %q (%s)", what, e.Rev, code)
	case e.Code == "EntryNotFound" && e.Pin != "":
		return fmt.Sprintf("%s: no file %q at %s (pinned to %s) (%s)", what, e.Path, e.Rev, e.Pin, code)
	case e.Code == "EntryNotFound":
		return fmt.Sprintf("%s: no file %q at %s (%s)", what, e.Path, e.Rev, code)
	}
	return what + ": " + code
}

// Hint is the next step for the user, or "".
func (e *HubError) Hint() string {
	switch {
	case e.Status == http.StatusUnauthorized && e.Code == "RepoNotFound" && !e.Token:
		return "check the name; if the repository is private, set HF_TOKEN to a token that may read it"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return "set HF_TOKEN to a token of an account that accepted " + e.Repo + "'s licence on the Hub"
	}
	return ""
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
func hubInspect(r *manifest.Ref, host string, token bool) func(*http.Response) error {
	return func(resp *http.Response) error {
		fromHub := resp.Request != nil && resp.Request.URL.Host == host
		switch c := resp.StatusCode; {
		case fromHub && (c == http.StatusUnauthorized || c == http.StatusForbidden),
			c == http.StatusNotFound && resp.Header.Get("X-Error-Code") != "":
			return &permanentError{&HubError{Repo: r.TypePrefix() + r.Repo, Rev: r.DecodedRev(), Pin: r.Pin, Path: r.Path,
				Status: c, Code: resp.Header.Get("X-Error-Code"), Token: token}}
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
func (f *Fetcher) openRef(src *manifest.Source, expect int64, newRetrier func() *retrier) (source, error) {
	switch src.Ref.Scheme {
	case manifest.SchemeHF:
		u, err := f.o.Hub.ResolveURL(src.Ref, "")
		if err != nil {
			return nil, &permanentError{err}
		}
		hs := f.httpSource(u, expect, newRetrier)
		hs.client = f.hubClient()
		hs.inspect = hubInspect(src.Ref, u.Host, f.hubToken() != "")
		return hs, nil
	}
	return nil, &permanentError{fmt.Errorf("%s:// sources are not supported by this build", src.Ref.Scheme)}
}

// hubToken is the token that goes to the endpoint: none over plain http.
func (f *Fetcher) hubToken() string {
	if f.o.Hub.endpoint().Scheme != "https" {
		return ""
	}
	return f.o.Hub.Token
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
