package rules

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/djok/modelfetch/pkg/manifest"
)

// parseTemplate checks a replacement URL against the expression whose groups
// it uses (re may be nil when the expression was bad: only the URL is
// checked then).
func parseTemplate(text string, re *regexp.Regexp) (Template, error) {
	t := Template{Text: text}
	if userInfo(text) {
		return t, &userInfoError{text}
	}
	refs, err := templateRefs(text)
	if err != nil {
		return t, fmt.Errorf("to URL %q: %w", text, err)
	}
	if re != nil {
		for _, name := range refs {
			if !hasGroup(re, name) {
				return t, fmt.Errorf("to URL %q: $%s names no group of the match expression (it has %d)%s",
					text, name, re.NumSubexp(), digitsHint(name))
			}
		}
	}
	// Groups are filled with a placeholder to check the URL's shape now.
	sample := groupRef.ReplaceAllString(strings.ReplaceAll(text, "$$", "\x00"), "x")
	sample = strings.ReplaceAll(sample, "\x00", "$")
	if _, err := checkURL(sample); err != nil {
		return t, fmt.Errorf("to URL %q: %w", text, err)
	}
	t.Host = staticHost(text)
	return t, nil
}

var groupRef = regexp.MustCompile(`\$(\{[^}]*\}|[A-Za-z0-9_]+)`)

// templateRefs returns the group names a template refers to ($1, ${name}).
func templateRefs(t string) ([]string, error) {
	var refs []string
	for i := 0; i < len(t); i++ {
		if t[i] != '$' {
			continue
		}
		i++
		if i < len(t) && t[i] == '$' {
			continue
		}
		name, n := "", 0
		if i < len(t) && t[i] == '{' {
			j := strings.IndexByte(t[i:], '}')
			if j < 0 {
				return nil, errors.New("${ without its }")
			}
			name, n = t[i+1:i+j], j+1
		} else {
			for n < len(t)-i && isNameByte(t[i+n]) {
				n++
			}
			name = t[i : i+n]
		}
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return r > 0x7f || !isNameByte(byte(r)) }) >= 0 {
			return nil, errors.New("a $ that names no group; write $$ for a dollar sign")
		}
		refs = append(refs, name)
		i += n - 1
	}
	return refs, nil
}

func isNameByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func hasGroup(re *regexp.Regexp, name string) bool {
	if n, err := strconv.Atoi(name); err == nil {
		return n >= 0 && n <= re.NumSubexp()
	}
	return re.SubexpIndex(name) >= 0
}

// digitsHint explains Go's reading of "$1x" (the group named "1x").
func digitsHint(name string) string {
	if name[0] >= '0' && name[0] <= '9' {
		if _, err := strconv.Atoi(name); err != nil {
			return fmt.Sprintf("; write ${%s} when the group's number is followed by text", strings.TrimRight(name, "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
		}
	}
	return ""
}

// checkURL parses a URL a rule produced: http or https with a host, or file
// with an absolute path.
func checkURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a URL: %s", manifest.Tidy(err.Error()))
	}
	switch u.Scheme = strings.ToLower(u.Scheme); u.Scheme {
	case "http", "https":
		if u.User != nil {
			return nil, errors.New(`holds a user name or password (before "@"), which a rule never sends; name a credential with token_env or netrc`)
		}
		if u.Hostname() == "" {
			return nil, errors.New("has no host")
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" || !strings.HasPrefix(u.Path, "/") {
			return nil, errors.New("a file URL needs an absolute path, such as file:///srv/models/x")
		}
	case "":
		return nil, errors.New("has no scheme; write https://, http:// or file:///")
	default:
		return nil, fmt.Errorf("unsupported scheme %q; use https, http or file", u.Scheme)
	}
	return u, nil
}

// staticHost returns the scheme and host of an http(s) template whose
// authority holds no group reference, else nil.
func staticHost(t string) *url.URL {
	scheme, rest, ok := strings.Cut(t, "://")
	scheme = strings.ToLower(scheme)
	if !ok || scheme != "http" && scheme != "https" {
		return nil
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if strings.Contains(rest, "$") || strings.Contains(rest, "@") {
		return nil
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	return &url.URL{Scheme: scheme, Host: strings.ToLower(u.Hostname())}
}

// userInfo reports whether a to URL's authority holds an "@": a user name
// or password, literal or from a group.
func userInfo(t string) bool {
	_, rest, ok := strings.Cut(t, "://")
	if !ok {
		return false
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return strings.Contains(rest, "@")
}

// userInfoError is a to URL with user info; it shows the URL without it.
type userInfoError struct{ text string }

func (e *userInfoError) Error() string {
	scheme, rest, _ := strings.Cut(e.text, "://")
	at := strings.LastIndex(rest[:strings.IndexAny(rest+"/", "/?#")], "@")
	return fmt.Sprintf(`to URL %q holds a user name or password (before "@"); the rules file never holds a secret`, scheme+"://xxxxx"+rest[at:])
}
