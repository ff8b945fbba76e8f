package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Bounds on what the Hub's API may make us read.
const (
	// MaxHubJSON caps one API answer (a page of a tree, a revision).
	MaxHubJSON = 1 << 20
	// MaxHubPages caps the pages of one tree listing.
	MaxHubPages = 100
	// hubAnswerTimeouts bounds one answer of the Hub (headers and body),
	// in idle timeouts: 2 minutes by default, for at most 1 MiB.
	hubAnswerTimeouts = 4
)

// hubBody is an answer of the Hub under its watchdog and deadline: a
// stall, a trickle or the deadline is reported as such.
type hubBody struct {
	watchedBody
	rctx  context.Context
	limit time.Duration
}

func (b *hubBody) Read(p []byte) (int, error) {
	n, err := b.watchedBody.Read(p)
	// A request cancelled mid-body may read as a clean end: the answer is
	// cut short all the same.
	if err != nil && (err != io.EOF || b.dog.fired() != nil || b.rctx.Err() != nil) {
		err = hubLate(b.ctx, b.rctx, b.dog, b.limit, err)
	}
	return n, err
}

// hubLate is err as the reason a request to the Hub was given up: its
// watchdog's, or the deadline of its answer; ctx is the caller's.
func hubLate(ctx, rctx context.Context, dog *watchdog, limit time.Duration, err error) error {
	switch {
	case ctx.Err() != nil:
		return err
	case dog.fired() != nil:
		return dog.fired()
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		return &StallError{Idle: limit, Whole: true}
	}
	return err
}

// HubMeta is what the Hub says of one file at one commit, from a HEAD of
// its resolve URL (not following the redirect to its storage).
type HubMeta struct {
	// Commit is the commit the Hub answered for (X-Repo-Commit).
	Commit string
	// SHA256 is the digest of an LFS or Xet file (X-Linked-Etag); zero for
	// a file stored in git, which has only a git sha1 ETag.
	SHA256 digest.Digest
	// Size is X-Linked-Size (LFS) or Content-Length (git); -1 unknown.
	Size int64
}

// HubEntry is a file or folder of a tree listing.
type HubEntry struct {
	Type string `json:"type"` // "file" or "directory"
	Path string `json:"path"`
	Size int64  `json:"size"`
	LFS  *struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	} `json:"lfs"`
}

// HubRevision resolves r's revision (a branch, a tag, a commit) to its
// commit with the revision API: GET {endpoint}/api/{type}/ORG/REPO/revision/REV.
func (f *Fetcher) HubRevision(ctx context.Context, r *manifest.Ref) (string, error) {
	u, err := f.o.Hub.hubURL("api/" + r.Type + "/" + r.Repo + "/revision/" + url.PathEscape(r.DecodedRev()))
	if err != nil {
		return "", err
	}
	var rev struct {
		SHA string `json:"sha"`
	}
	if _, err := f.hubJSON(ctx, r, u, &rev); err != nil {
		return "", err
	}
	if !manifest.IsCommit(rev.SHA) {
		return "", fmt.Errorf("%s: the Hub's answer names no commit (sha %.50q)", redact.URL(u), rev.SHA)
	}
	return rev.SHA, nil
}

// HubTree lists every file of r's repository at rev (a commit), following
// the tree API's Link rel="next" pages.
func (f *Fetcher) HubTree(ctx context.Context, r *manifest.Ref, rev string) ([]HubEntry, error) {
	u, err := f.o.Hub.hubURL("api/" + r.Type + "/" + r.Repo + "/tree/" + url.PathEscape(rev) + "?recursive=true")
	if err != nil {
		return nil, err
	}
	var all []HubEntry
	for page := 1; u != nil; page++ {
		if page > MaxHubPages {
			return nil, fmt.Errorf("hf repo %s: the tree has more than %d pages; refusing to read on", r.Repo, MaxHubPages)
		}
		var es []HubEntry
		resp, err := f.hubJSON(ctx, r, u, &es)
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
		if u, err = nextLink(resp, u); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// nextLink is the Link rel="next" of an answer, on the same host, or nil.
func nextLink(resp *http.Response, cur *url.URL) (*url.URL, error) {
	for _, l := range resp.Header.Values("Link") {
		for _, part := range strings.Split(l, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
				continue
			}
			next, err := cur.Parse(strings.Trim(strings.TrimSpace(target), "<>"))
			if err != nil || next.Host != cur.Host || next.Scheme != cur.Scheme {
				return nil, fmt.Errorf("%s: a next page on another host or a bad link; refusing it", redact.URL(cur))
			}
			return next, nil
		}
	}
	return nil, nil
}

// hubJSON GETs an API answer into v, read with a cap of MaxHubJSON.
func (f *Fetcher) hubJSON(ctx context.Context, r *manifest.Ref, u *url.URL, v any) (*http.Response, error) {
	repo := *r
	repo.Path, repo.Pin = "", "" // an answer about the repository at what u names
	resp, err := f.hubDo(ctx, &repo, http.MethodGet, u, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %w", redact.URL(u), &StatusError{Code: resp.StatusCode})
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxHubJSON+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", redact.URL(u), err)
	case len(b) > MaxHubJSON:
		return nil, fmt.Errorf("%s: the Hub's answer is larger than %d bytes (1 MiB); refusing it", redact.URL(u), MaxHubJSON)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("%s: the Hub's answer is not the JSON expected (%s)", redact.URL(u), resp.Header.Get("Content-Type"))
	}
	return resp, nil
}

// HubFileMeta asks the Hub for the sha256 and size of the file r names at
// its target (the pin, else the revision written), with a HEAD of the
// resolve URL that does not follow the redirect to the storage
// (Accept-Encoding: identity: a compressed answer's length says nothing).
func (f *Fetcher) HubFileMeta(ctx context.Context, r *manifest.Ref) (HubMeta, error) {
	u, err := f.o.Hub.ResolveURL(r, "")
	if err != nil {
		return HubMeta{}, err
	}
	resp, err := f.hubDo(ctx, r, http.MethodHead, u, true)
	if err != nil {
		return HubMeta{}, err
	}
	resp.Body.Close()
	name := redact.URL(u)
	if resp.StatusCode != http.StatusOK && (resp.StatusCode < 300 || resp.StatusCode > 399) {
		return HubMeta{}, fmt.Errorf("%s: %w", name, &StatusError{Code: resp.StatusCode})
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode == http.StatusOK && isHTML(ct) && !htmlName(r.Path) {
		return HubMeta{}, fmt.Errorf("%s: %w", name, &htmlError{ctype: ct})
	}
	m := HubMeta{Commit: resp.Header.Get("X-Repo-Commit"), Size: -1}
	if want := r.Target(); manifest.IsCommit(want) && m.Commit != "" && m.Commit != want {
		return HubMeta{}, fmt.Errorf("%s: the Hub answered for commit %.40s, not %s", name, m.Commit, want)
	}
	etag := strings.Trim(strings.TrimPrefix(resp.Header.Get("X-Linked-Etag"), "W/"), `"`)
	size, serr := strconv.ParseInt(resp.Header.Get("X-Linked-Size"), 10, 64)
	if d, err := digest.Parse(etag); err == nil && serr == nil && size >= 0 && size <= manifest.MaxSize {
		m.SHA256, m.Size = d, size
	} else if resp.StatusCode == http.StatusOK {
		m.Size = resp.ContentLength
	}
	return m, nil
}

// hubDo sends one request to the Hub's endpoint, retrying transient
// answers (429 with Retry-After, 5xx) under the fetcher's policy; the
// Hub's refusals are a *HubError. With noRedirect, a redirect to another
// host is answered as is (a relative one, a renamed repository, is
// followed); the caller closes the body.
func (f *Fetcher) hubDo(ctx context.Context, r *manifest.Ref, method string, u *url.URL, noRedirect bool) (*http.Response, error) {
	if f.o.Offline {
		return nil, errors.New("offline: not reaching the Hub")
	}
	if err := f.o.Hub.refused(r, u); err != nil {
		return nil, err
	}
	c := *f.hubClient()
	if noRedirect {
		host := u.Host
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return &redirectError{fmt.Sprintf("stopped after %d redirects", maxRedirects)}
			}
			if req.URL.Host != host {
				return http.ErrUseLastResponse
			}
			return nil
		}
	}
	rt := &retrier{p: &f.policy, faults: new(atomic.Int64)}
	for {
		resp, err := f.hubTry(ctx, &c, r, method, u)
		if err == nil {
			return resp, nil
		}
		werr := rt.wait(ctx, err)
		// The Hub is the last source of what it answers: a Retry-After past
		// MaxRetryAfter is waited at the cap once; asked again, the request
		// gives up, naming the wait, rather than hold the run on every try.
		rt.leaveLongWait = rt.leaveLongWait || f.policy.tooLong(err) != nil
		if werr != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if IsHubError(werr) {
				return nil, werr // it names the repository already
			}
			return nil, fmt.Errorf("%s: %w", redact.URL(u), werr)
		}
	}
}

// hubTry is one request of hubDo: a transient answer is a *StatusError
// for the retrier.
// The answer's body is under the idle and speed watchdog of a download,
// and the whole answer under a deadline of hubAnswerTimeouts idle timeouts.
func (f *Fetcher) hubTry(ctx context.Context, c *http.Client, r *manifest.Ref, method string, u *url.URL) (*http.Response, error) {
	limit := hubAnswerTimeouts * f.o.IdleTimeout
	rctx, cancel := context.WithTimeout(ctx, limit)
	req, err := http.NewRequestWithContext(rctx, method, u.String(), nil)
	if err != nil {
		cancel()
		return nil, &permanentError{err}
	}
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "modelfetch")
	dog := newWatchdog(f.o.IdleTimeout, speed{Min: f.o.MinSpeed, Window: f.o.SpeedWindow}, cancel)
	resp, err := c.Do(req)
	if err != nil {
		dog.stop()
		cancel()
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, hubLate(ctx, rctx, dog, limit, err)
	}
	resp.Body = &hubBody{watchedBody{body: resp.Body, dog: dog, ctx: ctx, cancel: cancel, release: func(bool) {}}, rctx, limit}
	if err := hubInspect(r, u.Host, f.hubTok(), "")(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	se := &StatusError{Code: resp.StatusCode, Host: u.Host}
	if !se.Permanent() {
		se.RetryAfter, se.HasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), f.o.Now())
		resp.Body.Close()
		return nil, se
	}
	return resp, nil
}
