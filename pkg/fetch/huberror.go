package fetch

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/manifest"
)

// HubError is the Hub refusing what it was asked: a repository, revision
// or file that is not there, or that the request may not see. It is final:
// another try cannot help.
type HubError struct {
	Repo string // [TYPE/]ORG/REPO
	Rev  string // the revision written
	Pin  string // the commit asked for in its place, or ""
	Path string // the file, "" for an API call on the repository
	// Status is the HTTP status; Code the Hub's X-Error-Code ("" when
	// none), Message its X-Error-Message (bounded, one line).
	Status  int
	Code    string
	Message string
	// Token says whether the request carried a token; Withheld that one
	// was set but not sent (the endpoint is plain http).
	Token, Withheld bool
	// Blocked is why the url rules forbid the endpoint's host (Host): no
	// request was sent.
	Blocked error
	Host    string
	// Model is the model whose source asked, when known (for the hint).
	Model string
}

// maxHubMessage bounds the Hub's X-Error-Message kept in an error.
const maxHubMessage = 200

// hubMessage is the Hub's X-Error-Message as an error may show it: one
// line of printable text, bounded, without credentials.
func hubMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > maxHubMessage {
		s = strings.ToValidUTF8(s[:maxHubMessage], "") + "…"
	}
	words := strings.Fields(s)
	for i, w := range words {
		if strings.Contains(w, "://") {
			words[i] = redact.String(w)
		}
	}
	return strings.Join(words, " ")
}

func (e *HubError) Error() string {
	what := "hf repo " + e.Repo
	if e.Blocked != nil {
		return fmt.Sprintf("%s: the Hub's endpoint %s is %v", what, e.Host, e.Blocked)
	}
	code := fmt.Sprintf("http %d", e.Status)
	if e.Code != "" {
		code += " " + e.Code
	}
	denied := e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	switch {
	case e.Withheld && (denied || e.Code == "RepoNotFound"):
		return what + ": not found, private or gated (" + code + "); HF_TOKEN is set but not sent to a plain-http HF_ENDPOINT"
	case e.Status == http.StatusUnauthorized && e.Token && e.Code != "GatedRepo":
		s := what + ": the Hub refused HF_TOKEN (" + code + ")"
		if e.Message != "" {
			s += ": " + e.Message
		}
		return s
	case e.Code == "RepoNotFound" && e.Token:
		return what + ": not found, or HF_TOKEN may not read it (" + code + ")"
	case e.Code == "RepoNotFound":
		return what + ": not found, or private: set HF_TOKEN (" + code + ")"
	case denied:
		return what + ": access refused (" + code + "): it needs HF_TOKEN and an accepted licence"
	case e.Code == "RevisionNotFound" && e.Pin != "":
		return fmt.Sprintf("%s: no commit %s, the pin of %q (%s)", what, e.Pin, e.Rev, code)
	case e.Code == "RevisionNotFound":
		return fmt.Sprintf("%s: no revision %q (%s)", what, e.Rev, code)
	case e.Code == "EntryNotFound" && e.Pin != "":
		return fmt.Sprintf("%s: no file %q at %s (pinned to %s) (%s)", what, e.Path, e.Rev, e.Pin, code)
	case e.Code == "EntryNotFound":
		return fmt.Sprintf("%s: no file %q at %s (%s)", what, e.Path, e.Rev, code)
	}
	return what + ": " + code
}

// Hint is the next step for the user, or "".
func (e *HubError) Hint() string {
	denied := e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	switch {
	case e.Blocked != nil:
		return "set HF_ENDPOINT to a Hub mirror or proxy the url rules allow (an artifact proxy's Hugging Face remote)"
	case e.Withheld && (denied || e.Code == "RepoNotFound"):
		return "the token goes over https only: set HF_ENDPOINT to the https URL of the Hub or its mirror"
	case e.Status == http.StatusUnauthorized && e.Token && e.Code != "GatedRepo":
		return "HF_TOKEN is invalid or expired: make a new token at https://huggingface.co/settings/tokens and set HF_TOKEN to it"
	case e.Code == "RepoNotFound" && e.Token:
		return "check the name, and that the account of HF_TOKEN may read " + e.Repo
	case e.Code == "RepoNotFound":
		return "check the name; if the repository is private, set HF_TOKEN to a token that may read it"
	case denied:
		return "set HF_TOKEN to a token of an account that accepted " + e.Repo + "'s licence on the Hub"
	case e.Code == "RevisionNotFound" && e.Pin != "" && e.Model != "":
		return fmt.Sprintf("the pinned commit is no longer on the Hub: run `modelfetch lock --update=%s` to pin %q again", e.Model, e.Rev)
	case e.Code == "RevisionNotFound" && e.Pin != "":
		return fmt.Sprintf("the pinned commit is no longer on the Hub: run `modelfetch lock --update=NAME` for the model that pins it, to pin %q again", e.Rev)
	}
	return ""
}

// FromHub reports whether one of names failed on the bytes of an hf://
// source: lock records such a file's sha256 from the Hub's metadata, so
// only `lock --download` reads what the Hub really serves.
func FromHub(results []Result, names []string) bool {
	for _, r := range results {
		var fe *Error
		if !slices.Contains(names, r.Name) || !errors.As(r.Err, &fe) {
			continue
		}
		for _, s := range fe.Sources {
			if s.Kind == KindIntegrity && strings.HasPrefix(s.Source, manifest.SchemeHF+"://") {
				return true
			}
		}
	}
	return false
}
