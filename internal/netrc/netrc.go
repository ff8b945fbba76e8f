// Package netrc reads the machine/login/password entries of a .netrc file.
package netrc

import (
	"strings"
)

// Entry is one machine's credentials; Machine is "" for the default entry.
type Entry struct {
	Machine, Login, Password string
}

// Parse reads netrc text. Unknown tokens (account, macdef bodies) are skipped.
func Parse(text string) []Entry {
	var out []Entry
	var cur *Entry
	toks := tokens(text)
	for i := 0; i < len(toks); i++ {
		next := func() string {
			if i+1 < len(toks) {
				i++
				return toks[i]
			}
			return ""
		}
		switch toks[i] {
		case "machine":
			out = append(out, Entry{Machine: strings.ToLower(next())})
			cur = &out[len(out)-1]
		case "default":
			out = append(out, Entry{})
			cur = &out[len(out)-1]
		case "login":
			if cur != nil {
				cur.Login = next()
			}
		case "password":
			if cur != nil {
				cur.Password = next()
			}
		case "account":
			next()
		case "macdef":
			// A macro runs to the next blank line; it carries no credentials.
			cur = nil
			for i+1 < len(toks) && toks[i+1] != "\n\n" {
				i++
			}
		}
	}
	return out
}

// tokens splits on white space, keeping "\n\n" (a blank line) as a token so
// macdef bodies can be skipped, and dropping comments.
func tokens(text string) []string {
	var out []string
	for _, para := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		for _, line := range strings.Split(para, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			out = append(out, strings.Fields(line)...)
		}
		out = append(out, "\n\n")
	}
	return out
}

// Find returns the entry for host, else the default entry, else false.
func Find(entries []Entry, host string) (Entry, bool) {
	host = strings.ToLower(host)
	var def *Entry
	for i := range entries {
		switch e := &entries[i]; e.Machine {
		case host:
			return *e, true
		case "":
			if def == nil {
				def = e
			}
		}
	}
	if def != nil {
		return *def, true
	}
	return Entry{}, false
}
