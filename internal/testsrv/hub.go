package testsrv

// A fake Hugging Face Hub, built from the Hub's documented behaviour (the
// huggingface_hub client's file_download.py and hf_api.py):
//
//   - GET /api/{models|datasets|spaces}/ORG/REPO/revision/REV → {"id", "sha", "siblings"}
//   - GET /api/{type}/ORG/REPO/tree/REV[/PATH]?recursive=true → a JSON array of
//     entries, paginated with Link: <…>; rel="next"
//   - POST /api/{type}/ORG/REPO/paths-info/REV (form paths=…) → entries
//   - HEAD/GET /[TYPE/]ORG/REPO/resolve/REV/PATH: an LFS file answers 302 to
//     a signed URL on a second loopback host (the storage), with
//     X-Repo-Commit, X-Linked-Etag ("sha256") and X-Linked-Size; a file
//     stored in git answers 200 with its bytes and ETag "git-sha1".
//   - errors: 401 + X-Error-Code: RepoNotFound for a missing or private repo
//     asked anonymously, 401 GatedRepo for a gated one, 404 RevisionNotFound
//     or EntryNotFound, 429 with Retry-After.
//
// Entries carry lfs {"oid": sha256, "size", "pointerSize"} for LFS files.
// Every request is counted, so a test can prove that lock read no file byte.

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"
)

// HubOptions configures StartHub. The zero value is a plain-http Hub with
// no token, storage links that never expire, and pages of 1000 entries.
type HubOptions struct {
	// TLS serves the Hub and its storage over https (one certificate for
	// 127.0.0.1, see CertPEM).
	TLS bool
	// Token, when set, is the token ("Authorization: Bearer TOKEN") that
	// opens private and gated repositories.
	Token string
	// PageSize is the number of tree entries per page (default 1000).
	PageSize int
	// OtherToken is a valid token of an account that may read no private
	// or gated repository: a private one answers it 404 RepoNotFound, as
	// the Hub answers an authenticated request.
	OtherToken string
	// StrictTokens answers every request with any other token 401
	// "Invalid credentials in Authorization header", as the Hub does.
	StrictTokens bool
}

// HubFile is a file of a commit.
type HubFile struct {
	Data []byte
	// LFS files are served from the storage host; others from git.
	LFS bool
	// LieSHA256, when set, is the sha256 the Hub's metadata claims.
	LieSHA256 string
	// HTML makes resolve answer 200 with an HTML page instead of the file.
	HTML bool
}

// HubFaults are misbehaviours a test turns on.
type HubFaults struct {
	// RateLimit answers that many next requests to the Hub host with 429
	// and Retry-After: RetryAfter (seconds; 1 when 0).
	RateLimit  int
	RetryAfter int
	// ExpireAfter makes a signed storage link answer ExpireStatus (403 when
	// 0) once it has served that many requests; 0: links never expire.
	ExpireAfter  int
	ExpireStatus int
	// APINotJSON, APIHuge (a 2 MiB JSON page), APIEndless (every tree page
	// links a next one) spoil the API's answers.
	APINotJSON, APIHuge, APIEndless bool
	// RedirectLoop makes resolve redirect to itself.
	RedirectLoop bool
	// APIStall makes an API answer send its headers and a first byte, then
	// nothing for that long (or until the client gives up).
	APIStall time.Duration
	// APITrickle makes an API answer send one byte per APITrickle, for
	// ever (or until the client gives up).
	APITrickle time.Duration
}

// HubCounts are the requests a Hub has had.
type HubCounts struct {
	Requests    int // to the Hub host, every kind
	API         int // /api/…
	ResolveHEAD int
	ResolveGET  int // GETs of resolve (a git file's bytes, or a redirect)
	StorageGET  int // GETs of file bytes from the storage host
	// FileBytes is how many file bytes were served (git and storage).
	FileBytes int64
	// StorageAuth counts storage requests that carried an Authorization
	// header (a token leaked past the Hub).
	StorageAuth int
	// Expired counts storage requests refused for an expired link.
	Expired int
}

// Hub is a running fake Hub.
type Hub struct {
	// URL is the endpoint (HF_ENDPOINT); StorageURL the storage host's base.
	URL, StorageURL string

	o       HubOptions
	hub     *httptest.Server
	storage *httptest.Server

	mu     sync.Mutex
	repos  map[string]*hubRepo // "models/org/repo"
	blobs  map[string][]byte   // sha256 → bytes
	links  map[string]int      // signature → uses
	faults HubFaults
	counts HubCounts
	seq    int
}

type hubRepo struct {
	gated, private bool
	refs           map[string]string // branch or tag → commit
	commits        map[string]map[string]HubFile
}

// StartHub starts a Hub and its storage host on loopback. The caller must
// Close it.
func StartHub(o HubOptions) *Hub {
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
	h := &Hub{o: o, repos: map[string]*hubRepo{}, blobs: map[string][]byte{}, links: map[string]int{}}
	h.hub = httptest.NewUnstartedServer(http.HandlerFunc(h.serveHub))
	h.storage = httptest.NewUnstartedServer(http.HandlerFunc(h.serveStorage))
	if o.TLS {
		h.hub.StartTLS()
		h.storage.StartTLS()
	} else {
		h.hub.Start()
		h.storage.Start()
	}
	h.URL, h.StorageURL = h.hub.URL, h.storage.URL
	return h
}

// Close stops both servers.
func (h *Hub) Close() {
	h.hub.Close()
	h.storage.Close()
}

// CertPEM is the certificate both servers use over TLS (for SSL_CERT_FILE).
func (h *Hub) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.hub.Certificate().Raw})
}

// Repo creates the repository typ/id ("models", "org/repo") if needed and
// sets whether it is gated and private.
func (h *Hub) Repo(typ, id string, gated, private bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repo(typ, id)
	r.gated, r.private = gated, private
}

func (h *Hub) repo(typ, id string) *hubRepo {
	k := typ + "/" + id
	r := h.repos[k]
	if r == nil {
		r = &hubRepo{refs: map[string]string{}, commits: map[string]map[string]HubFile{}}
		h.repos[k] = r
	}
	return r
}

// Push makes a commit on branch of typ/id with files added or replaced (a
// nil Data deletes a path), and returns its id (40 hex).
func (h *Hub) Push(typ, id, branch string, files map[string]HubFile) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repo(typ, id)
	tree := map[string]HubFile{}
	for p, f := range r.commits[r.refs[branch]] {
		tree[p] = f
	}
	h.seq++
	sum := sha1.New()
	fmt.Fprintf(sum, "%s %s %s %d", typ, id, branch, h.seq)
	for _, p := range sortedPaths(files) {
		f := files[p]
		if f.Data == nil {
			delete(tree, p)
			continue
		}
		tree[p] = f
		h.blobs[sha256Hex(f.Data)] = f.Data
		fmt.Fprintf(sum, " %s=%s", p, sha256Hex(f.Data))
	}
	commit := hex.EncodeToString(sum.Sum(nil))
	r.commits[commit] = tree
	r.refs[branch] = commit
	return commit
}

// Tag points tag (or a branch) of typ/id at commit.
func (h *Hub) Tag(typ, id, tag, commit string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.repo(typ, id).refs[tag] = commit
}

// SetFaults replaces the faults in effect.
func (h *Hub) SetFaults(f HubFaults) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = f
}

// Counts returns the requests so far.
func (h *Hub) Counts() HubCounts {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts
}

// ResetCounts sets every count to zero.
func (h *Hub) ResetCounts() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts = HubCounts{}
}

func sortedPaths(files map[string]HubFile) []string {
	ps := make([]string, 0, len(files))
	for p := range files {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// gitOID is git's blob id of b: sha1("blob LEN\0" + b).
func gitOID(b []byte) string {
	s := sha1.New()
	fmt.Fprintf(s, "blob %d\x00", len(b))
	s.Write(b)
	return hex.EncodeToString(s.Sum(nil))
}

// sign makes a storage link for the blob sum, counted from now.
func (h *Hub) sign(sum string) string {
	h.seq++
	sig := fmt.Sprintf("%x", sha1.Sum([]byte(fmt.Sprintf("%s %d %d", sum, h.seq, time.Now().UnixNano()))))
	h.links[sig] = 0
	return h.StorageURL + "/blobs/" + sum + "?X-Amz-Signature=" + sig + "&X-Amz-Expires=3600"
}

// authorized reports whether the request carries the Hub's token.
func (h *Hub) authorized(r *http.Request) bool {
	return h.o.Token != "" && r.Header.Get("Authorization") == "Bearer "+h.o.Token
}

// hubError answers like the Hub: a status, X-Error-Code and X-Error-Message,
// and a JSON body {"error": …}.
func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{%q: %q}\n", "error", msg)
}

// splitRepo reads [TYPE/]ORG/REPO/rest… from path parts (each unescaped).
func splitRepo(parts []string, typed bool) (typ, id string, rest []string, ok bool) {
	typ = "models"
	if typed || len(parts) > 0 && (parts[0] == "datasets" || parts[0] == "spaces") {
		if len(parts) == 0 {
			return "", "", nil, false
		}
		typ, parts = parts[0], parts[1:]
	}
	if len(parts) < 2 {
		return "", "", nil, false
	}
	return typ, strings.Join(parts[:2], "/"), parts[2:], true
}
