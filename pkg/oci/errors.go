package oci

import (
	"fmt"
	"net/http"
	"strings"

	godigest "github.com/opencontainers/go-digest"
)

// The errors' messages do not repeat the reference (the caller names the
// source); Ref says which it was.

// ManifestError is a manifest that cannot be used: too large, not JSON, not
// an image manifest, too many layers. Retrying does not change it.
type ManifestError struct {
	Ref    Ref
	Reason string
}

func (e *ManifestError) Error() string   { return e.Reason }
func (e *ManifestError) Permanent() bool { return true }

// IntegrityError is an artifact that contradicts itself or the models.toml
// that names it: bytes that do not match a digest, two layers claiming one
// path, a tar entry of another size than declared.
type IntegrityError struct {
	Ref    Ref
	Reason string
}

func (e *IntegrityError) Error() string   { return e.Reason }
func (e *IntegrityError) Integrity() bool { return true }

// IndexError is a reference that names an index (several platforms or
// variants), not one manifest: one of Children is to be pinned instead.
type IndexError struct {
	Ref      Ref
	Children []Child // the first few
	Total    int
}

// Child is one manifest of an index.
type Child struct {
	Digest   godigest.Digest
	Platform string // os/arch[/variant], "" when not given
}

func (e *IndexError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "an index of %d manifests, not one model; name one by digest:", e.Total)
	for i, c := range e.Children {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(" @" + c.Digest.String())
		if c.Platform != "" {
			b.WriteString(" (" + c.Platform + ")")
		}
	}
	if n := e.Total - len(e.Children); n > 0 {
		fmt.Fprintf(&b, " and %d more", n)
	}
	return b.String()
}
func (e *IndexError) Permanent() bool { return true }

// BadReference: the manifest is to name one of the children instead (exit
// 2 at the command line).
func (e *IndexError) BadReference() bool { return true }

// StatusError is a registry's answer other than the manifest.
type StatusError struct {
	Ref  Ref
	Code int
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("http %d %s", e.Code, strings.ToLower(http.StatusText(e.Code)))
	switch e.Code {
	case http.StatusNotFound:
		msg += " (no such repository, tag or digest)"
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += " (log in with docker login, or set DOCKER_CONFIG)"
	}
	return msg
}

// Permanent is true for every answer but those a retry may change (408,
// 429, 5xx).
func (e *StatusError) Permanent() bool {
	c := e.Code
	return !(c == http.StatusRequestTimeout || c == http.StatusTooManyRequests ||
		c >= 500 && c != http.StatusNotImplemented && c != http.StatusHTTPVersionNotSupported)
}

// FileError is a path that no layer of the artifact holds, or a layer that
// cannot be installed as a file.
type FileError struct {
	Ref    Ref
	Path   string
	Reason string
}

func (e *FileError) Error() string   { return fmt.Sprintf("file %q: %s", e.Path, e.Reason) }
func (e *FileError) Permanent() bool { return true }
