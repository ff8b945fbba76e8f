package manifest

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Docker Hub's names: what "docker.io" means, and the folder of its
// official one-part names.
const (
	DockerHubRegistry = "registry-1.docker.io"
	dockerLibrary     = "library/"
)

// parseOCI parses what follows "oci://" or "oci+http://":
// REGISTRY/REPO(:TAG|@sha256:HEX)#PATH. It returns a message for a malformed
// reference.
func parseOCI(rest string, needPath bool) (*Ref, string) {
	name, path, hasPath := strings.Cut(rest, "#")
	switch {
	case !hasPath && needPath:
		return nil, "names no file: want oci://REGISTRY/REPO:TAG#PATH"
	case hasPath:
		if msg := checkRefPath(path); msg != "" {
			return nil, msg
		}
	}
	registry, repo, ok := strings.Cut(name, "/")
	if !ok {
		return nil, "want oci://REGISTRY/REPO(:TAG|@sha256:HEX)#PATH"
	}
	if strings.Contains(registry, "@") {
		return nil, "credentials do not belong in a reference; use docker login (DOCKER_CONFIG)"
	}
	r := &Ref{Path: path}
	var msg string
	if r.Registry, msg = checkRegistry(registry); msg != "" {
		return nil, msg
	}
	if repo, r.Digest, ok = strings.Cut(repo, "@"); ok {
		if !IsDigest(r.Digest) {
			return nil, fmt.Sprintf("digest %q: want sha256: and 64 lowercase hex", r.Digest)
		}
	}
	if i := strings.LastIndexByte(repo, ':'); i >= 0 {
		repo, r.Rev = repo[:i], repo[i+1:]
		if msg := checkTag(r.Rev); msg != "" {
			return nil, msg
		}
	}
	switch {
	case r.Rev != "" && r.Digest != "":
		return nil, "names both a tag and a digest; keep one"
	case r.Rev == "" && r.Digest == "":
		return nil, "names no tag or digest: want REPO:TAG or REPO@sha256:HEX"
	}
	if msg := checkRepoPath(repo); msg != "" {
		return nil, msg
	}
	if r.Registry == DockerHubRegistry && !strings.Contains(repo, "/") {
		repo = dockerLibrary + repo
	}
	r.Repo = repo
	return r, ""
}

// checkRegistry checks host[:port] and returns it normalised: lower case,
// docker.io (and index.docker.io) as registry-1.docker.io.
func checkRegistry(s string) (string, string) {
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 || p[0] == '0' {
			return "", fmt.Sprintf("registry %q: bad port", s)
		}
	}
	host = strings.ToLower(host)
	if host == "" || len(host) > 253 {
		return "", fmt.Sprintf("registry %q: bad host name", s)
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return "", fmt.Sprintf("registry %q: bad host name", s)
		}
	}
	if host == "docker.io" || host == "index.docker.io" {
		host = DockerHubRegistry
	}
	if port != "" {
		return net.JoinHostPort(host, port), ""
	}
	return host, ""
}

// checkTag checks a tag as the distribution spec allows it:
// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func checkTag(t string) string {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return fmt.Sprintf("tag %q: want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", t)
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Sprintf("tag %q: want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", t)
		}
	}
	return ""
}

// repoPathRE is a repository name as the distribution spec allows it:
// lower-case components joined by '.', '_', "__" or '-'s, separated by '/'.
var repoPathRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)

func checkRepoPath(repo string) string {
	if len(repo) > 255 || !repoPathRE.MatchString(repo) {
		return fmt.Sprintf("repository %q: want lower-case parts of letters and digits joined by '.', '_' or '-', separated by '/'", repo)
	}
	return ""
}
