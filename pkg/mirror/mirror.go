// Package mirror describes content-addressed model stores: a team's OCI
// registry, or a folder of files named by their SHA-256 behind a web server.
// Both are consulted by the digest of the installed file, which models.toml
// records, so the same manifest works with a mirror and without one.
//
// The package parses mirror specifications (Parse), gives the URL a file is
// read from (Mirror.BlobURL), authenticates requests to a registry the way
// Docker does (Transport) and fills a registry (Push). It never prints and
// reads no environment: the caller passes the Docker config it found.
package mirror

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"oras.land/oras-go/v2/registry"

	"github.com/djok/modelfetch/pkg/digest"
)

// Kind is what sort of store a mirror is.
type Kind int

// Kinds of mirror.
const (
	// OCI is a registry: blobs at /v2/REPO/blobs/sha256:HEX.
	OCI Kind = iota + 1
	// Hashed is a URL template with {sha256} where the digest goes.
	Hashed
)

// Placeholder is where a hashed mirror's URL takes the file's digest.
const Placeholder = "{sha256}"

// Mirror is one parsed mirror specification.
type Mirror struct {
	Kind Kind
	// Registry (host[:port]), Repository and Tag of an OCI mirror. Tag is
	// only used by push ("" means DefaultTag).
	Registry, Repository, Tag string
	// PlainHTTP: the registry is spoken to over http (oci+http://), for a
	// loopback or lab registry. Never chosen by itself.
	PlainHTTP bool
	// Template is a hashed mirror's URL, with Placeholder in it.
	Template string
	spec     string
}

// ParseList parses a space-separated list (MODELFETCH_MIRRORS).
func ParseList(s string) ([]Mirror, error) {
	var out []Mirror
	fields := strings.Fields(s)
	if len(fields) > MaxMirrors {
		return nil, fmt.Errorf("%d mirrors: at most %d", len(fields), MaxMirrors)
	}
	for _, f := range fields {
		m, err := Parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Parse reads one mirror specification:
//
//	oci://HOST[:PORT]/REPO[:TAG]       a registry, over https
//	oci+http://HOST[:PORT]/REPO[:TAG]  a registry over plain http
//	https://HOST/PATH/{sha256}         a hashed mirror (also http:, file:)
func Parse(s string) (Mirror, error) {
	if len(s) > maxSpecLen {
		return Mirror{}, fmt.Errorf("mirror %.40q…: longer than %d bytes", redactSpec(s), maxSpecLen)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Mirror{}, fmt.Errorf("mirror %q: want oci://HOST/REPO or a URL with %s in it", redactSpec(s), Placeholder)
	}
	var (
		m   Mirror
		err error
	)
	switch strings.ToLower(scheme) {
	case "oci":
		m, err = parseOCI(rest, false)
	case "oci+http":
		m, err = parseOCI(rest, true)
	case "https", "http", "file":
		m, err = parseHashed(s)
	default:
		err = fmt.Errorf("unsupported scheme %q (want oci, oci+http, https, http or file)", scheme)
	}
	if err != nil {
		return Mirror{}, fmt.Errorf("mirror %q: %w", redactSpec(s), err)
	}
	m.spec = s
	return m, nil
}

func parseOCI(rest string, plain bool) (Mirror, error) {
	if strings.ContainsAny(rest, "@?#") {
		if host, _, _ := strings.Cut(rest, "/"); strings.Contains(host, "@") {
			return Mirror{}, errors.New("credentials do not belong in a mirror address; use docker login (DOCKER_CONFIG)")
		}
		return Mirror{}, errors.New("a registry mirror is oci://HOST[:PORT]/REPO[:TAG], without a digest, query or fragment")
	}
	if !strings.Contains(rest, "/") {
		return Mirror{}, errors.New("no repository: want oci://HOST[:PORT]/REPO")
	}
	ref, err := registry.ParseReference(rest)
	if err != nil {
		return Mirror{}, errors.New(strings.TrimPrefix(err.Error(), "invalid reference: "))
	}
	if len(ref.Repository) > maxRepoLen {
		return Mirror{}, fmt.Errorf("a repository name is at most %d bytes", maxRepoLen)
	}
	return Mirror{Kind: OCI, Registry: ref.Registry, Repository: ref.Repository, Tag: ref.Reference, PlainHTTP: plain}, nil
}

func parseHashed(s string) (Mirror, error) {
	if n := strings.Count(s, Placeholder); n != 1 {
		return Mirror{}, fmt.Errorf("a hashed mirror needs %s exactly once, where the file's digest goes (e.g. https://host/models/%s)", Placeholder, Placeholder)
	}
	u, err := url.Parse(strings.Replace(s, Placeholder, strings.Repeat("0", 64), 1))
	if err != nil {
		return Mirror{}, errors.New("not a valid URL")
	}
	switch {
	case u.User != nil:
		return Mirror{}, errors.New("credentials do not belong in a mirror address; use ~/.netrc")
	case u.Scheme != "file" && u.Host == "":
		return Mirror{}, errors.New("no host")
	case u.Scheme == "file" && u.Host != "" && u.Host != "localhost":
		return Mirror{}, errors.New("a file: mirror is on this machine (file:///PATH/{sha256})")
	case u.Fragment != "":
		return Mirror{}, errors.New("a mirror address has no fragment")
	}
	return Mirror{Kind: Hashed, Template: s}, nil
}

// Bounds on what a mirror list may hold (every input is bounded).
const (
	// MaxMirrors is the most mirrors one list may name.
	MaxMirrors = 16
	maxSpecLen = 2048
	// maxRepoLen is distribution's limit on a repository name.
	maxRepoLen = 255
)

// redactSpec hides credentials (user:password@) and a query in a mirror
// specification that is being refused, so the message can be shown.
func redactSpec(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i] + s[i:i+1] + "REDACTED"
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		// Not even scheme://: whatever comes before an @ may be a secret.
		if at := strings.LastIndexByte(s, '@'); at >= 0 {
			return "xxxxx" + s[at:]
		}
		return s
	}
	host, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = "xxxxx" + host[at:]
	}
	out := scheme + "://" + host
	if strings.Contains(rest, "/") {
		out += "/" + path
	}
	return out
}

// BlobURL is where the file whose installed digest is d is read from.
func (m Mirror) BlobURL(d digest.Digest) *url.URL {
	if m.Kind == OCI {
		return &url.URL{Scheme: m.registryScheme(), Host: m.Registry, Path: "/v2/" + m.Repository + "/blobs/sha256:" + d.String()}
	}
	u, _ := url.Parse(strings.Replace(m.Template, Placeholder, d.String(), 1)) // checked by Parse
	return u
}

// registryScheme is how an OCI mirror's registry is spoken to.
func (m Mirror) registryScheme() string {
	if m.PlainHTTP {
		return "http"
	}
	return "https"
}

// String is the specification as given, its query string redacted (Parse
// refuses credentials in it).
func (m Mirror) String() string { return redactSpec(m.spec) }
