package rules

import (
	"net"
	"net/url"
	"strings"

	"github.com/djok/modelfetch/pkg/manifest"
)

// hubHost is the host rules see for an hf:// source, whatever endpoint it
// is read from.
const hubHost = "huggingface.co"

// matchText is what a rewrite's match sees for src: an http(s) URL without
// its scheme, an hf:// reference as its file's URL on the Hub
// ("huggingface.co/ORG/REPO/resolve/REV/PATH"); ok is false for a source
// no rule rewrites (file:, oci://).
func matchText(src *manifest.Source) (string, bool) {
	if src.Ref != nil {
		if src.Ref.Scheme == manifest.SchemeHF {
			return src.Ref.MatchPath(), true
		}
		return "", false
	}
	if src.Parsed.Scheme != "http" && src.Parsed.Scheme != "https" {
		return "", false
	}
	_, rest, ok := strings.Cut(src.URL, "://")
	return rest, ok
}

// hostOf is the host allow and block patterns see for src: the Hub's for
// an hf:// source, the registry's for an oci:// one.
func hostOf(src *manifest.Source) string {
	switch {
	case src.Ref == nil:
		return src.Parsed.Hostname()
	case src.Ref.Scheme == manifest.SchemeHF:
		return hubHost
	}
	if h, _, err := net.SplitHostPort(src.Ref.Registry); err == nil {
		return h
	}
	return src.Ref.Registry
}

// RefuseHost says why no request may go to host (a Hub's endpoint, whose
// API lock and add read and to which its token goes): the rules block it,
// as they would a source URL on it. nil when they do not, or without rules.
func (r *Rules) RefuseHost(host string) error {
	if r == nil || !r.blocks(&manifest.Source{Parsed: &url.URL{Scheme: "https", Host: host}}) {
		return nil
	}
	return (&BlockedError{File: r.File, Message: r.BlockedMessage}).Reason()
}
