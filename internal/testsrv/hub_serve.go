package testsrv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// hubFail is an error answer of the Hub.
type hubFail struct {
	status    int
	code, msg string
}

func (f *hubFail) write(w http.ResponseWriter) { hubError(w, f.status, f.code, f.msg) }

// pathParts splits an escaped URL path into its unescaped parts, so that a
// revision written refs%2Fpr%2F3 stays one part.
func pathParts(r *http.Request) []string {
	var out []string
	for _, p := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(p)
		if err != nil {
			u = p
		}
		out = append(out, u)
	}
	return out
}

func (h *Hub) serveHub(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.counts.Requests++
	limited, wait := h.faults.RateLimit > 0, max(h.faults.RetryAfter, 1)
	if limited {
		h.faults.RateLimit--
	}
	h.mu.Unlock()
	if limited {
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		hubError(w, http.StatusTooManyRequests, "", "you have been rate-limited")
		return
	}
	parts := pathParts(r)
	if len(parts) > 0 && parts[0] == "api" {
		h.serveAPI(w, r, parts[1:])
		return
	}
	typ, id, rest, ok := splitRepo(parts, false)
	if !ok || len(rest) < 3 || rest[0] != "resolve" || r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.NotFound(w, r)
		return
	}
	h.serveResolve(w, r, typ, id, rest[1], strings.Join(rest[2:], "/"))
}

// lookup finds the commit rev names in typ/id, as the request may see it.
func (h *Hub) lookup(r *http.Request, typ, id, rev string) (string, map[string]HubFile, *hubFail) {
	h.mu.Lock()
	defer h.mu.Unlock()
	repo := h.repos[typ+"/"+id]
	auth := r.Header.Get("Authorization")
	other := h.o.OtherToken != "" && auth == "Bearer "+h.o.OtherToken
	switch {
	case h.o.StrictTokens && auth != "" && !other && !h.authorized(r):
		return "", nil, &hubFail{http.StatusUnauthorized, "", "Invalid credentials in Authorization header"}
	case other && (repo == nil || repo.private):
		return "", nil, &hubFail{http.StatusNotFound, "RepoNotFound", "Repository Not Found for url: " + r.URL.String() + "."}
	}
	if repo == nil || repo.private && !h.authorized(r) {
		return "", nil, &hubFail{http.StatusUnauthorized, "RepoNotFound", "Repository Not Found for url: " + r.URL.String() + "."}
	}
	if repo.gated && !h.authorized(r) {
		status := http.StatusUnauthorized
		if r.Header.Get("Authorization") != "" {
			status = http.StatusForbidden
		}
		return "", nil, &hubFail{status, "GatedRepo", "Access to model " + id + " is restricted and you are not in the authorized list."}
	}
	commit, ok := repo.refs[rev]
	if !ok {
		commit = rev
	}
	tree, ok := repo.commits[commit]
	if !ok {
		return "", nil, &hubFail{http.StatusNotFound, "RevisionNotFound", "Invalid rev id: " + rev}
	}
	return commit, tree, nil
}

func (h *Hub) serveResolve(w http.ResponseWriter, r *http.Request, typ, id, rev, file string) {
	commit, tree, fail := h.lookup(r, typ, id, rev)
	if fail != nil {
		fail.write(w)
		return
	}
	f, ok := tree[file]
	if !ok {
		hubError(w, http.StatusNotFound, "EntryNotFound", file+" does not exist on \""+rev+"\"")
		return
	}
	h.mu.Lock()
	if r.Method == http.MethodHead {
		h.counts.ResolveHEAD++
	} else {
		h.counts.ResolveGET++
	}
	loop := h.faults.RedirectLoop
	h.mu.Unlock()
	w.Header().Set("X-Repo-Commit", commit)
	switch {
	case loop:
		w.Header().Set("Location", r.URL.RequestURI())
		w.WriteHeader(http.StatusFound)
	case f.HTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in.</body></html>\n")
	case f.LFS:
		sum := sha256Hex(f.Data)
		claim := sum
		if f.LieSHA256 != "" {
			claim = f.LieSHA256
		}
		h.mu.Lock()
		loc := h.sign(sum)
		h.mu.Unlock()
		w.Header().Set("X-Linked-Etag", strconv.Quote(claim))
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.Data)))
		w.Header().Set("ETag", strconv.Quote(gitOID(lfsPointer(claim, len(f.Data)))))
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	default:
		w.Header().Set("ETag", strconv.Quote(gitOID(f.Data)))
		h.serveBytes(w, r, path.Base(file), f.Data)
	}
}

// serveBytes serves b with Range support, counting the bytes sent.
func (h *Hub) serveBytes(w http.ResponseWriter, r *http.Request, name string, b []byte) {
	cw := &countWriter{ResponseWriter: w}
	http.ServeContent(cw, r, name, time.Unix(0, 0), bytes.NewReader(b))
	h.mu.Lock()
	h.counts.FileBytes += cw.n
	h.mu.Unlock()
}

type countWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func lfsPointer(sum string, size int) []byte {
	return []byte(fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sum, size))
}

func (h *Hub) serveStorage(w http.ResponseWriter, r *http.Request) {
	sum, _ := strings.CutPrefix(r.URL.Path, "/blobs/")
	sig := r.URL.Query().Get("X-Amz-Signature")
	h.mu.Lock()
	if r.Header.Get("Authorization") != "" {
		h.counts.StorageAuth++
	}
	if r.Method == http.MethodGet {
		h.counts.StorageGET++
	}
	uses, known := h.links[sig]
	expired := known && h.faults.ExpireAfter > 0 && uses >= h.faults.ExpireAfter
	status := h.faults.ExpireStatus
	if expired {
		h.counts.Expired++
	}
	h.links[sig] = uses + 1
	b, ok := h.blobs[sum]
	h.mu.Unlock()
	switch {
	case !known || !ok:
		http.Error(w, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>", http.StatusForbidden)
	case expired:
		if status == 0 {
			status = http.StatusForbidden
		}
		http.Error(w, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", status)
	default:
		w.Header().Set("ETag", strconv.Quote(sum))
		h.serveBytes(w, r, sum, b)
	}
}

// hubEntry is an entry of the tree and paths-info APIs.
type hubEntry struct {
	Type string  `json:"type"`
	OID  string  `json:"oid"`
	Size int     `json:"size"`
	Path string  `json:"path"`
	LFS  *hubLFS `json:"lfs,omitempty"`
}

type hubLFS struct {
	OID         string `json:"oid"`
	Size        int    `json:"size"`
	PointerSize int    `json:"pointerSize"`
}

func entry(p string, f HubFile) hubEntry {
	if !f.LFS {
		return hubEntry{Type: "file", OID: gitOID(f.Data), Size: len(f.Data), Path: p}
	}
	claim := sha256Hex(f.Data)
	if f.LieSHA256 != "" {
		claim = f.LieSHA256
	}
	ptr := lfsPointer(claim, len(f.Data))
	return hubEntry{Type: "file", OID: gitOID(ptr), Size: len(f.Data), Path: p,
		LFS: &hubLFS{OID: claim, Size: len(f.Data), PointerSize: len(ptr)}}
}

func (h *Hub) serveAPI(w http.ResponseWriter, r *http.Request, parts []string) {
	h.mu.Lock()
	h.counts.API++
	faults := h.faults
	h.mu.Unlock()
	typ, id, rest, ok := splitRepo(parts, true)
	if !ok || len(rest) < 2 || typ != "models" && typ != "datasets" && typ != "spaces" {
		http.NotFound(w, r)
		return
	}
	commit, tree, fail := h.lookup(r, typ, id, rest[1])
	switch {
	case fail != nil:
		fail.write(w)
		return
	case apiFault(w, r, faults, commit):
		return
	}
	switch {
	case rest[0] == "revision" && r.Method == http.MethodGet:
		var sib []map[string]string
		for _, p := range sortedPaths(tree) {
			sib = append(sib, map[string]string{"rfilename": p})
		}
		writeJSON(w, map[string]any{"id": id, "sha": commit, "siblings": sib})
	case rest[0] == "tree" && r.Method == http.MethodGet:
		h.serveTree(w, r, tree, strings.Join(rest[2:], "/"), faults.APIEndless)
	case rest[0] == "paths-info" && r.Method == http.MethodPost:
		_ = r.ParseForm()
		out := []hubEntry{}
		for _, p := range r.PostForm["paths"] {
			if f, ok := tree[p]; ok {
				out = append(out, entry(p, f))
			}
		}
		writeJSON(w, out)
	default:
		http.NotFound(w, r)
	}
}

// apiFault answers an API request as faults say, and reports whether it
// did: a page that is not JSON, a body that stalls after its first byte or
// trickles forever, a page over the client's cap.
func apiFault(w http.ResponseWriter, r *http.Request, faults HubFaults, commit string) bool {
	switch {
	case faults.APINotJSON:
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body>maintenance</body></html>")
	case faults.APIStall > 0:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "{")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(faults.APIStall):
		}
	case faults.APITrickle > 0:
		w.Header().Set("Content-Type", "application/json")
		for {
			fmt.Fprint(w, " ")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return true
			case <-time.After(faults.APITrickle):
			}
		}
	case faults.APIHuge:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"sha": %q, "pad": "%s"}`, commit, strings.Repeat("x", 2<<20))
	default:
		return false
	}
	return true
}

// serveTree lists the files (and, recursively, the folders) below dir, one
// page from ?cursor=N, with a Link to the next page.
func (h *Hub) serveTree(w http.ResponseWriter, r *http.Request, tree map[string]HubFile, dir string, endless bool) {
	recursive := r.URL.Query().Get("recursive") == "true"
	var all []hubEntry
	dirs := map[string]bool{}
	for _, p := range sortedPaths(tree) {
		rel := p
		if dir != "" {
			var ok bool
			if rel, ok = strings.CutPrefix(p, dir+"/"); !ok {
				continue
			}
		}
		if d, _, nested := strings.Cut(rel, "/"); nested && !recursive {
			dirs[path.Join(dir, d)] = true
			continue
		}
		for d := path.Dir(p); d != "." && d != dir && recursive; d = path.Dir(d) {
			dirs[d] = true
		}
		all = append(all, entry(p, tree[p]))
	}
	for d := range dirs {
		all = append(all, hubEntry{Type: "directory", OID: gitOID([]byte(d)), Path: d})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Path < all[j].Path })
	cursor, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	cursor = min(max(cursor, 0), len(all))
	end := min(cursor+h.o.PageSize, len(all))
	if end < len(all) || endless {
		next := *r.URL
		q := next.Query()
		q.Set("cursor", strconv.Itoa(end))
		next.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, h.URL, next.RequestURI()))
	}
	writeJSON(w, all[cursor:end])
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
