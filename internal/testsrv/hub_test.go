package testsrv

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestHubResolveAndStorage(t *testing.T) {
	h := StartHub(HubOptions{Token: "tok", PageSize: 2})
	defer h.Close()
	c1 := h.Push("models", "org/repo", "main", map[string]HubFile{
		"w.bin": {Data: []byte("weights"), LFS: true}, "cfg.json": {Data: []byte("{}")}, "a/b/c.txt": {Data: []byte("c")},
	})
	resp, _ := do(t, "GET", h.URL+"/api/models/org/repo/revision/main")
	assert.Equal(t, 200, resp.StatusCode)

	resp, _ = do(t, "HEAD", h.URL+"/org/repo/resolve/main/w.bin", "Accept-Encoding", "identity")
	assert.Equal(t, 302, resp.StatusCode)
	assert.Equal(t, c1, resp.Header.Get("X-Repo-Commit"))
	assert.Equal(t, `"`+sha256Hex([]byte("weights"))+`"`, resp.Header.Get("X-Linked-Etag"))
	assert.Equal(t, "7", resp.Header.Get("X-Linked-Size"))
	loc := resp.Header.Get("Location")
	assert.True(t, strings.HasPrefix(loc, h.StorageURL+"/blobs/"))
	assert.Equal(t, HubCounts{Requests: 2, API: 1, ResolveHEAD: 1}, h.Counts())

	h.SetFaults(HubFaults{ExpireAfter: 1, ExpireStatus: 410})
	resp, body := do(t, "GET", loc)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "weights", body)
	resp, _ = do(t, "GET", loc, "Range", "bytes=1-2")
	assert.Equal(t, 410, resp.StatusCode, "the link expired after one use")
	assert.Equal(t, 1, h.Counts().Expired)

	resp, body = do(t, "GET", h.URL+"/org/repo/resolve/"+c1+"/cfg.json")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "{}", body)
	assert.Equal(t, `"`+gitOID([]byte("{}"))+`"`, resp.Header.Get("ETag"))

	for url, want := range map[string]string{
		"/nobody/x/resolve/main/f":        "401 RepoNotFound",
		"/org/repo/resolve/v9/w.bin":      "404 RevisionNotFound",
		"/org/repo/resolve/main/nope":     "404 EntryNotFound",
		"/api/models/org/repo/revision/x": "404 RevisionNotFound",
	} {
		resp, _ := do(t, "GET", h.URL+url)
		assert.Equal(t, want, resp.Status[:3]+" "+resp.Header.Get("X-Error-Code"), url)
	}
	h.Repo("models", "org/gated", true, false)
	h.Push("models", "org/gated", "main", map[string]HubFile{"f": {Data: []byte("f")}})
	resp, _ = do(t, "GET", h.URL+"/org/gated/resolve/main/f")
	assert.Equal(t, "401 GatedRepo", resp.Status[:3]+" "+resp.Header.Get("X-Error-Code"))
	resp, _ = do(t, "GET", h.URL+"/org/gated/resolve/main/f", "Authorization", "Bearer tok")
	assert.Equal(t, 200, resp.StatusCode)

	h.SetFaults(HubFaults{RateLimit: 1})
	resp, _ = do(t, "GET", h.URL+"/org/gated/resolve/main/f")
	assert.Equal(t, "429 1", resp.Status[:3]+" "+resp.Header.Get("Retry-After"))
}

func TestHubTreePages(t *testing.T) {
	h := StartHub(HubOptions{PageSize: 2})
	defer h.Close()
	h.Push("datasets", "org/d", "main", map[string]HubFile{
		"a.bin": {Data: []byte("a"), LFS: true}, "x/b.bin": {Data: []byte("b")}, "x/y/c.bin": {Data: []byte("c")},
	})
	var paths []string
	next := h.URL + "/api/datasets/org/d/tree/main?recursive=true"
	pages := 0
	for next != "" {
		resp, body := do(t, "GET", next)
		require.Equal(t, 200, resp.StatusCode, body)
		var es []hubEntry
		require.NoError(t, json.Unmarshal([]byte(body), &es))
		for _, e := range es {
			paths = append(paths, e.Type+":"+e.Path)
		}
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			next = strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
		}
		pages++
	}
	assert.Equal(t, 3, pages)
	assert.Equal(t, []string{"file:a.bin", "directory:x", "file:x/b.bin", "directory:x/y", "file:x/y/c.bin"}, paths)
}
