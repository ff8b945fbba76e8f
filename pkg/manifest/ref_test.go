package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const commitA = "8a7c6a2e0f1b2c3d4e5f60718293a4b5c6d7e8f9"

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		raw, key, str, match string
		typ, repo, rev, path string
		registry, digest     string
	}{
		{raw: "hf://sczhou/CodeFormer/codeformer.pth", typ: "models", repo: "sczhou/CodeFormer", rev: "main", path: "codeformer.pth",
			key: "hf://sczhou/CodeFormer@main", str: "hf://sczhou/CodeFormer@main/codeformer.pth",
			match: "huggingface.co/sczhou/CodeFormer/resolve/main/codeformer.pth"},
		{raw: "hf://datasets/org/data@v1.0/a/b c.bin", typ: "datasets", repo: "org/data", rev: "v1.0", path: "a/b c.bin",
			key: "hf://datasets/org/data@v1.0", match: "huggingface.co/datasets/org/data/resolve/v1.0/a/b%20c.bin"},
		{raw: "HF://spaces/o/s@refs%2Fpr%2F3/app.py", typ: "spaces", repo: "o/s", rev: "refs%2Fpr%2F3", path: "app.py",
			key: "hf://spaces/o/s@refs%2Fpr%2F3"},
		{raw: "hf://o/r@" + commitA + "/w.bin", repo: "o/r", rev: commitA, path: "w.bin", key: "",
			match: "huggingface.co/o/r/resolve/" + commitA + "/w.bin"},
		{raw: "oci://ghcr.io/acme/facecraft-models:v1#codeformer/codeformer.pth", registry: "ghcr.io", repo: "acme/facecraft-models",
			rev: "v1", path: "codeformer/codeformer.pth", key: "oci://ghcr.io/acme/facecraft-models:v1"},
		{raw: "oci://docker.io/ai/x:latest#m.gguf", registry: DockerHubRegistry, repo: "ai/x", rev: "latest", path: "m.gguf",
			key: "oci://registry-1.docker.io/ai/x:latest"},
		{raw: "oci://Docker.IO/ubuntu:22.04#f", registry: DockerHubRegistry, repo: "library/ubuntu", rev: "22.04", path: "f",
			key: "oci://registry-1.docker.io/library/ubuntu:22.04"},
		{raw: "oci+http://127.0.0.1:5000/a/b__c.d-e:t_1#x/y", registry: "127.0.0.1:5000", repo: "a/b__c.d-e", rev: "t_1", path: "x/y",
			key: "oci+http://127.0.0.1:5000/a/b__c.d-e:t_1"},
		{raw: "oci://localhost:5000/m@sha256:" + strings.Repeat("a", 64) + "#f", registry: "localhost:5000", repo: "m",
			digest: "sha256:" + strings.Repeat("a", 64), path: "f", key: "",
			str: "oci://localhost:5000/m@sha256:" + strings.Repeat("a", 64) + "#f"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			r, err := ParseRef(tc.raw)
			require.NoError(t, err)
			if tc.typ != "" {
				assert.Equal(t, tc.typ, r.Type)
			}
			assert.Equal(t, tc.repo, r.Repo)
			assert.Equal(t, tc.rev, r.Rev)
			assert.Equal(t, tc.path, r.Path)
			assert.Equal(t, tc.registry, r.Registry)
			assert.Equal(t, tc.digest, r.Digest)
			assert.Equal(t, tc.key, r.Key())
			assert.Equal(t, tc.key == "", r.Immutable())
			if tc.str != "" {
				assert.Equal(t, tc.str, r.String())
			}
			if tc.match != "" {
				assert.Equal(t, tc.match, r.MatchPath())
			}
			again, err := ParseRef(r.String())
			require.NoError(t, err, "the canonical form parses")
			assert.Equal(t, r, again)
		})
	}
}

func TestParseRefErrors(t *testing.T) {
	for raw, want := range map[string]string{
		"hf://org":                          "want hf://",
		"hf://org/repo":                     "names no file",
		"hf://org/repo@main":                "names no file",
		"hf://org/repo@/f":                  "empty revision",
		"hf://org/re po/f":                  "has ' '",
		"hf://org/repo@a b/f":               "has ' '",
		"hf://org/repo@a%zz/f":              "bad %-escape",
		"hf://org/repo@refs/pr/3/f":         `revision "refs"/…: write a '/' in a revision as %2F`,
		"hf://org/repo@..%2Fx/f":            "git does not allow",
		"hf://org/repo/../x":                `".."`,
		"hf://org/repo//x":                  "absolute",
		"hf://org/repo/x/":                  "empty folder",
		"hf://-org/repo/x":                  "starts or ends",
		"hf://o--g/repo/x":                  `"--"`,
		"hf:///repo/x":                      "empty organisation",
		"hf://org//x":                       "empty repository",
		"oci://ghcr.io/acme/x:v1":           "names no file",
		"oci://ghcr.io/acme/x#f":            "no tag or digest",
		"oci://ghcr.io#f":                   "want oci://",
		"oci://ghcr.io/Acme/x:v1#f":         "repository",
		"oci://ghcr.io/acme/x:-v#f":         "tag",
		"oci://ghcr.io/acme/x@sha256:abc#f": "digest",
		"oci://ghcr.io/a/x:v1@sha256:" + strings.Repeat("a", 64) + "#f": "both",
		"oci://h:0/a:v#f":        "bad port",
		"oci://h_x/a:v#f":        "bad host",
		"oci://ghcr.io/a:v#../f": `".."`,
		"oci://ghcr.io/a:v#":     "file part",
		"s3://b/k":               "unsupported scheme",
		"hf://org/repo/a\nb":     "control character",
	} {
		_, err := ParseRef(raw)
		if want == "" {
			assert.NoError(t, err, raw)
			continue
		}
		require.Error(t, err, raw)
		assert.True(t, errors.Is(err, ErrBadRef), raw)
		assert.Contains(t, err.Error(), want, raw)
	}
}

func TestParseRepoRef(t *testing.T) {
	r, err := ParseRepoRef("hf://org/repo@v2")
	require.NoError(t, err)
	assert.Equal(t, "", r.Path)
	assert.Equal(t, "hf://org/repo@v2", r.Key())
	r, err = ParseRepoRef("hf://org/repo")
	require.NoError(t, err)
	assert.Equal(t, "hf://org/repo@main", r.String())
}

func TestRefTargetAndPin(t *testing.T) {
	r, _ := ParseRef("hf://o/r/f")
	assert.Equal(t, "main", r.Target())
	assert.True(t, r.ValidPin(commitA))
	assert.False(t, r.ValidPin(strings.ToUpper(commitA)))
	r.Pin = commitA
	assert.Equal(t, commitA, r.Target())
	assert.Equal(t, "huggingface.co/o/r/resolve/"+commitA+"/f", r.MatchPath())
	r, _ = ParseRef("hf://o/r@refs%2Fpr%2F3/f")
	assert.Equal(t, "refs/pr/3", r.DecodedRev())
	o, _ := ParseRef("oci://h/a:v#f")
	assert.True(t, o.ValidPin("sha256:"+strings.Repeat("0", 64)))
	assert.False(t, o.ValidPin(commitA))
	assert.Equal(t, "", o.MatchPath())
}

// FuzzParseRef: the parser never panics, and what it accepts is stable: its
// canonical form parses to the same reference, and the pieces are checked.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"hf://o/r/f", "hf://datasets/o/r@v1/a/b", "hf://o/r@refs%2Fpr%2F1/x",
		"oci://ghcr.io/a/b:v1#p", "oci+http://localhost:5000/a@sha256:" + strings.Repeat("a", 64) + "#p/q", "oci://docker.io/x:1#y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := ParseRef(raw)
		if err != nil {
			if !errors.Is(err, ErrBadRef) {
				t.Fatalf("%q: error %v is not ErrBadRef", raw, err)
			}
			return
		}
		if r.Path == "" || checkPath(r.Path) != nil || hasControl(r.String()) {
			t.Fatalf("%q: accepted a bad file part %q", raw, r.Path)
		}
		again, err := ParseRef(r.String())
		if err != nil || *again != *r {
			t.Fatalf("%q: canonical %q does not parse back the same: %v", raw, r.String(), err)
		}
		if k := r.Key(); k != "" {
			kr, err := ParseRepoRef(k)
			if err != nil || kr.Key() != k {
				t.Fatalf("%q: key %q does not parse back: %v", raw, k, err)
			}
		}
	})
}
