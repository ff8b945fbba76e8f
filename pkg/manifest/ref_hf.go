package manifest

import (
	"fmt"
	"net/url"
	"strings"
)

// Hugging Face Hub repository types, as the Hub's API names them.
const (
	HFModels   = "models"
	HFDatasets = "datasets"
	HFSpaces   = "spaces"
)

// DefaultHFRev is the revision of an hf:// reference that names none.
const DefaultHFRev = "main"

// parseHF parses what follows "hf://": [datasets/|spaces/]ORG/REPO[@REV][/PATH].
// It returns a message for a malformed reference.
func parseHF(rest string, needPath bool) (*Ref, string) {
	r := &Ref{Type: HFModels}
	for _, t := range []string{HFDatasets, HFSpaces} {
		if after, ok := strings.CutPrefix(rest, t+"/"); ok {
			r.Type, rest = t, after
		}
	}
	org, after, ok := strings.Cut(rest, "/")
	if strings.ContainsAny(org, "@:") {
		return nil, "credentials do not belong in a reference; use HF_TOKEN" // and are never repeated
	}
	if !ok {
		return nil, "want hf://[datasets/|spaces/]ORG/REPO[@REV]/PATH"
	}
	repoRev, path, _ := strings.Cut(after, "/")
	repo, rev, hasRev := strings.Cut(repoRev, "@")
	if hasRev && slashedRev(rev, path) {
		return nil, fmt.Sprintf("revision %q/…: write a '/' in a revision as %%2F (refs%%2Fpr%%2F3)", rev)
	}
	if msg := checkHFName("organisation", org); msg != "" {
		return nil, msg
	}
	if msg := checkHFName("repository", repo); msg != "" {
		return nil, msg
	}
	r.Repo = org + "/" + repo
	r.Rev = DefaultHFRev
	if hasRev {
		if msg := checkHFRev(rev); msg != "" {
			return nil, msg
		}
		r.Rev = rev
	}
	switch {
	case path == "" && needPath:
		return nil, "names no file: want hf://ORG/REPO[@REV]/PATH"
	case path != "":
		if msg := checkRefPath(path); msg != "" {
			return nil, msg
		}
		r.Path = path
	}
	return r, ""
}

// slashedRev reports a revision of the Hub's refs/ namespace written with
// its '/' unescaped (@refs/pr/3/PATH reads as revision "refs").
func slashedRev(rev, path string) bool {
	for _, ns := range []string{"pr/", "convert/", "heads/", "tags/"} {
		if rev == "refs" && strings.HasPrefix(path, ns) {
			return true
		}
	}
	return false
}

// checkHFName checks an organisation or repository name as the Hub allows
// them: letters, digits, '-', '_' and '.', at most 96 bytes, no "--" or "..",
// not starting or ending with '-' or '.'.
func checkHFName(what, s string) string {
	switch {
	case s == "":
		return fmt.Sprintf("empty %s name", what)
	case len(s) > 96:
		return fmt.Sprintf("%s name is %d bytes; the Hub allows 96", what, len(s))
	case strings.Contains(s, "--") || strings.Contains(s, ".."):
		return fmt.Sprintf("%s name %q has \"--\" or \"..\"", what, s)
	case strings.ContainsAny(s[:1]+s[len(s)-1:], "-."):
		return fmt.Sprintf("%s name %q starts or ends with '-' or '.'", what, s)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("%s name %q has %q; the Hub allows letters, digits, '-', '_' and '.'", what, s, c)
		}
	}
	return ""
}

// checkHFRev checks a revision as written: unreserved URL characters and
// %-escapes ("refs%2Fpr%2F3"), decoding to a git ref name or a commit.
func checkHFRev(rev string) string {
	if rev == "" {
		return "empty revision after '@'"
	}
	for _, c := range rev {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-~%", c)) {
			return fmt.Sprintf("revision %q has %q; write a '/' in a revision as %%2F (refs%%2Fpr%%2F3)", rev, c)
		}
	}
	dec, err := url.PathUnescape(rev)
	if err != nil {
		return fmt.Sprintf("revision %q: bad %%-escape", rev)
	}
	if hasControl(dec) || strings.ContainsAny(dec, " ?#\\") {
		return fmt.Sprintf("revision %q decodes to a name git does not allow", rev)
	}
	for _, part := range strings.Split(dec, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Sprintf("revision %q decodes to a name git does not allow", rev)
		}
	}
	return ""
}

// DecodedRev is an hf reference's revision with its %-escapes decoded
// ("refs/pr/3"); Rev was checked to decode.
func (r *Ref) DecodedRev() string {
	dec, err := url.PathUnescape(r.Rev)
	if err != nil {
		return r.Rev
	}
	return dec
}

// TypePrefix is the folder the Hub's URLs put before ORG/REPO: "" for a
// model, "datasets/" or "spaces/" (hf only).
func (r *Ref) TypePrefix() string { return r.typePrefix() }

func (r *Ref) typePrefix() string {
	if r.Type == "" || r.Type == HFModels {
		return ""
	}
	return r.Type + "/"
}

// MatchPath is what URL rules' match sees for an hf reference: the file's
// URL on huggingface.co without its scheme,
// "huggingface.co/[TYPE/]ORG/REPO/resolve/REV/PATH", with REV the pin when
// there is one (a rewrite keeps a pinned fetch pinned). "" for other
// schemes.
func (r *Ref) MatchPath() string {
	if r.Scheme != SchemeHF {
		return ""
	}
	return "huggingface.co/" + r.typePrefix() + r.Repo + "/resolve/" + r.Target() + "/" + EscapePath(r.Path)
}

// EscapePath escapes each slash-separated part of p for a URL path.
func EscapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
