// Package redact keeps credentials and signed query strings out of messages.
package redact

import (
	"net/url"
	"strings"
)

// URL returns u for display: any user info is replaced by "xxxxx" and a query
// string (often a signature or token) by "REDACTED".
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		c.User = url.User("xxxxx")
	}
	if c.RawQuery != "" || c.ForceQuery {
		c.RawQuery = "REDACTED"
		c.ForceQuery = false
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// String redacts a raw URL; text that does not parse is cut at its first "?"
// and any "user:pass@" is dropped.
func String(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return URL(u)
	}
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i] + "?REDACTED"
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		if at := strings.IndexByte(raw[i+3:], '@'); at >= 0 {
			raw = raw[:i+3] + "xxxxx@" + raw[i+3+at+1:]
		}
	}
	return raw
}
