package manifest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/djok/modelfetch/internal/redact"
)

// Schemes of references to where models live rather than to a URL.
const (
	SchemeHF      = "hf"       // hf://[datasets/|spaces/]ORG/REPO[@REV]/PATH
	SchemeOCI     = "oci"      // oci://REGISTRY/REPO(:TAG|@sha256:HEX)#PATH
	SchemeOCIHTTP = "oci+http" // the same, from a plain-http registry
)

// Ref is a parsed hub or registry reference: a Source's Ref, nil for a plain
// URL. Its fields are in canonical form (an oci registry and repository
// normalised); Key and Pin say what lock pins it to.
type Ref struct {
	// Scheme is SchemeHF, SchemeOCI or SchemeOCIHTTP.
	Scheme string
	// Type is the Hub repository type, "models", "datasets" or "spaces"
	// (hf only).
	Type string
	// Registry is the registry's host[:port], lower case, docker.io
	// normalised to registry-1.docker.io (oci only).
	Registry string
	// Repo is ORG/REPO (hf) or the repository's path in the registry (oci;
	// "library/" added to a one-part Docker Hub name).
	Repo string
	// Rev is the revision as written, still URL-encoded, "main" when
	// omitted (hf); the tag (oci), "" when the reference names a digest.
	Rev string
	// Digest is "sha256:HEX" when an oci reference names its manifest by
	// digest, else "".
	Digest string
	// Path is the file in the repository (hf) or the artifact (oci); "" only
	// for a repository reference (ParseRepoRef).
	Path string
	// Pin is the immutable target the model's pins give for Key: a commit
	// (hf) or a manifest digest (oci); "" when there is none.
	Pin string
}

// ErrBadRef is wrapped by every error of ParseRef and ParseRepoRef.
var ErrBadRef = errors.New("bad reference")

// RefError is a malformed reference.
type RefError struct {
	Ref string
	Msg string
}

func (e *RefError) Error() string { return fmt.Sprintf("%s: %s", redact.String(e.Ref), e.Msg) }

// Unwrap makes errors.Is(err, ErrBadRef) true.
func (e *RefError) Unwrap() error { return ErrBadRef }

// IsRef reports whether raw is written in one of the reference schemes (it
// may still be malformed).
func IsRef(raw string) bool {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case SchemeHF, SchemeOCI, SchemeOCIHTTP:
		return true
	}
	return false
}

// ParseRef parses an hf:// or oci:// (oci+http://) reference to one file.
func ParseRef(raw string) (*Ref, error) { return parseRef(raw, true) }

// ParseRepoRef parses a reference that may leave out the file part
// (hf://ORG/REPO@REV names the whole repository), as `add` takes it.
func ParseRepoRef(raw string) (*Ref, error) { return parseRef(raw, false) }

func parseRef(raw string, needPath bool) (*Ref, error) {
	bad := func(format string, args ...any) (*Ref, error) {
		return nil, &RefError{Ref: raw, Msg: fmt.Sprintf(format, args...)}
	}
	if hasControl(raw) {
		return bad("has a control character")
	}
	if len(raw) > maxRefLen {
		return bad("is %d bytes; the limit is %d", len(raw), maxRefLen)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return bad("is not a reference (want hf:// or oci://)")
	}
	var r *Ref
	var msg string
	switch scheme = strings.ToLower(scheme); scheme {
	case SchemeHF:
		r, msg = parseHF(rest, needPath)
	case SchemeOCI, SchemeOCIHTTP:
		r, msg = parseOCI(rest, needPath)
	default:
		return bad("unsupported scheme %q", scheme)
	}
	if msg != "" {
		return bad("%s", msg)
	}
	r.Scheme = scheme
	return r, nil
}

// maxRefLen bounds a reference: a path below the limit of a manifest path,
// plus the repository's name.
const maxRefLen = maxPathLen + 512

// Immutable reports whether the reference names an immutable target by
// itself (an hf commit, an oci digest): it needs no pin.
func (r *Ref) Immutable() bool {
	if r.Scheme == SchemeHF {
		return IsCommit(r.Rev)
	}
	return r.Digest != ""
}

// Key is the canonical moving reference, without the file part: the key of
// the model's pins that pins it. "" when the reference is immutable.
//
//	hf://[TYPE/]ORG/REPO@REV
//	oci://REGISTRY/REPO:TAG (or oci+http://)
func (r *Ref) Key() string {
	if r.Immutable() {
		return ""
	}
	if r.Scheme == SchemeHF {
		return "hf://" + r.typePrefix() + r.Repo + "@" + r.Rev
	}
	return r.Scheme + "://" + r.Registry + "/" + r.Repo + ":" + r.Rev
}

// Target is what a fetch reads: the pin when there is one, else the
// immutable revision or digest written, else the moving revision or tag
// (still URL-encoded for hf).
func (r *Ref) Target() string {
	switch {
	case r.Pin != "":
		return r.Pin
	case r.Digest != "":
		return r.Digest
	}
	return r.Rev
}

// String is the reference in canonical form, with its file part.
func (r *Ref) String() string {
	var s string
	switch {
	case r.Scheme == SchemeHF:
		s = "hf://" + r.typePrefix() + r.Repo + "@" + r.Rev
		if r.Path != "" {
			s += "/" + r.Path
		}
		return s
	case r.Digest != "":
		s = r.Scheme + "://" + r.Registry + "/" + r.Repo + "@" + r.Digest
	default:
		s = r.Key()
	}
	if r.Path != "" {
		s += "#" + r.Path
	}
	return s
}

// ValidPin reports whether v is a well-formed pin value for r's scheme: a
// 40-hex lowercase commit (hf), "sha256:" and 64 lowercase hex (oci).
func (r *Ref) ValidPin(v string) bool {
	if r.Scheme == SchemeHF {
		return IsCommit(v)
	}
	return IsDigest(v)
}

// IsCommit reports whether s is a full git commit id: 40 lowercase hex.
func IsCommit(s string) bool { return len(s) == 40 && isLowerHex(s) }

// IsDigest reports whether s is "sha256:" and 64 lowercase hex.
func IsDigest(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	return ok && len(h) == 64 && isLowerHex(h)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkRefPath checks the file part of a reference like a manifest path.
func checkRefPath(p string) string {
	if err := checkPath(p); err != nil {
		return "file part: " + strings.TrimPrefix(err.Error(), "path ")
	}
	if p != strings.TrimSuffix(p, "/") || strings.Contains(p, "//") {
		return fmt.Sprintf("file part %q has an empty folder name", p)
	}
	return ""
}
