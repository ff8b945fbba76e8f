package manifest

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
)

type rawManifest struct {
	Version  *int64              `toml:"version"`
	Defaults rawDefaults         `toml:"defaults"`
	Dirs     map[string]string   `toml:"dirs"`
	Models   map[string]rawModel `toml:"models"`
}

type rawDefaults struct {
	Owner    *string `toml:"owner"`
	FileMode *string `toml:"file_mode"`
	DirMode  *string `toml:"dir_mode"`
}

type rawModel struct {
	Dir     *string           `toml:"dir"`
	Path    *string           `toml:"path"`
	SHA256  *string           `toml:"sha256"`
	Size    *rawSize          `toml:"size"`
	URLs    []string          `toml:"urls"`
	Sources []rawSource       `toml:"sources"`
	Pins    map[string]string `toml:"pins"`
}

type rawSource struct {
	URL         *string  `toml:"url"`
	Compression *string  `toml:"compression"`
	SHA256      *string  `toml:"sha256"`
	Size        *rawSize `toml:"size"`
}

type parser struct {
	file string
	pos  positions
	errs errorList
}

func (p *parser) errf(key, hint, format string, args ...any) {
	p.errs.add(&Error{File: p.file, Line: p.pos.line(key), Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// manifest checks the decoded values and fills m.
func (p *parser) manifest(m *Manifest, raw *rawManifest, md toml.MetaData) {
	switch {
	case raw.Version == nil:
		p.errf("version", "", "missing; this build reads version = %d", SchemaVersion)
	case *raw.Version != SchemaVersion:
		p.errf("version", "", "unsupported schema version %d; this build reads version = %d", *raw.Version, SchemaVersion)
	}
	m.Defaults = p.defaults(raw.Defaults)
	for name, dir := range raw.Dirs {
		key := "dirs." + name
		switch {
		case name == "":
			p.errf(key, "", "empty root name")
		case dir == "":
			p.errf(key, "", "empty path")
		case hasControl(dir):
			p.errf(key, "", "path has a control character")
		case longComponent(filepath.ToSlash(dir), MaxComponentLen) != "":
			p.errf(key, "", "a folder name in %q is longer than %d bytes", dir, MaxComponentLen)
		case filepath.IsAbs(dir):
			m.Dirs[name] = filepath.Clean(dir)
		default:
			m.Dirs[name] = filepath.Join(m.BaseDir, dir)
		}
	}
	// Models in file order: md.Keys() lists keys as they appear.
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		if len(k) == 2 && k[0] == "models" && !seen[k[1]] {
			seen[k[1]] = true
			if rm, ok := raw.Models[k[1]]; ok {
				m.Models = append(m.Models, p.model(m, k[1], rm))
			}
		}
	}
	installed := map[string]string{}
	for _, mod := range m.Models {
		if mod.Path == "" {
			continue
		}
		where := mod.Dir + ":" + mod.Path
		if other, dup := installed[where]; dup {
			p.errf("models."+mod.Name+".path", "", "installs to %s like model %q", where, other)
		}
		installed[where] = mod.Name
	}
}

func (p *parser) defaults(raw rawDefaults) Defaults {
	d := Defaults{FileMode: 0o644, DirMode: 0o755}
	if raw.Owner != nil {
		o, err := ParseOwner(*raw.Owner)
		if err != nil {
			p.errf("defaults.owner", "", "%v", err)
		}
		d.Owner = o
	}
	d.FileMode = p.mode("defaults.file_mode", raw.FileMode, d.FileMode)
	d.DirMode = p.mode("defaults.dir_mode", raw.DirMode, d.DirMode)
	return d
}

func (p *parser) mode(key string, s *string, def os.FileMode) os.FileMode {
	if s == nil {
		return def
	}
	v, err := strconv.ParseUint(*s, 8, 32)
	if err != nil || v > 0o7777 || len(*s) < 3 {
		p.errf(key, "", "%q is not an octal mode such as \"0644\"", *s)
		return def
	}
	return os.FileMode(v & 0o777)
}

func (p *parser) model(m *Manifest, name string, raw rawModel) *Model {
	key := "models." + name
	mod := &Model{Name: name, Dir: DefaultDir, Size: -1, Line: p.pos.line(key)}
	if !validName(name) {
		p.errf(key, "", "model names use letters, digits, '.', '_' and '-'")
	}
	if raw.Dir != nil {
		mod.Dir = *raw.Dir
		if _, ok := m.Dirs[mod.Dir]; !ok && mod.Dir != DefaultDir {
			p.errf(key+".dir", "", "unknown dir %q; name it in [dirs]", mod.Dir)
		}
	}
	switch {
	case raw.Path == nil || *raw.Path == "":
		p.errf(key, "", "missing path")
	default:
		if err := checkPath(*raw.Path); err != nil {
			p.errf(key+".path", "", "%v", err)
		} else {
			mod.Path = path.Clean(*raw.Path)
		}
	}
	mod.SHA256 = p.digest(key+".sha256", raw.SHA256)
	mod.Size = p.size(key+".size", raw.Size)
	for _, u := range raw.URLs {
		k := key + ".urls"
		s := &Source{URL: u, Size: -1, Line: p.pos.line(k)}
		p.setURL(s, k, m.BaseDir)
		mod.Sources = append(mod.Sources, s)
	}
	for i, rs := range raw.Sources {
		mod.Sources = append(mod.Sources, p.source(fmt.Sprintf("%s.sources.%d", key, i), m.BaseDir, rs))
	}
	if len(mod.Sources) == 0 {
		p.errf(key, "", "no urls and no sources: nothing to fetch from")
	}
	p.pins(key, mod, raw.Pins)
	return mod
}

// source checks a [[models.NAME.sources]] entry (or an inline table in
// sources = [...]); k is its key with its index.
func (p *parser) source(k, baseDir string, rs rawSource) *Source {
	s := &Source{Size: -1, Table: true, Line: p.pos.line(k)}
	if rs.URL == nil {
		p.errf(k, "", "source has no url")
	} else {
		s.URL = *rs.URL
		p.setURL(s, k+".url", baseDir)
	}
	if rs.Compression != nil {
		f, err := decompress.Parse(*rs.Compression)
		if err != nil {
			p.errf(k+".compression", "", "%v", err)
		}
		s.Compression = f
	}
	s.SHA256 = p.digest(k+".sha256", rs.SHA256)
	s.Size = p.size(k+".size", rs.Size)
	return s
}

// digest checks a sha256 value; nil is the zero digest.
func (p *parser) digest(key string, s *string) digest.Digest {
	if s == nil {
		return digest.Digest{}
	}
	d, err := digest.Parse(*s)
	if err != nil {
		p.errf(key, "", "%v", err)
	}
	return d
}

// size checks a size value; nil is -1 (not declared).
func (p *parser) size(key string, raw *rawSize) int64 {
	if raw == nil {
		return -1
	}
	n, ok := raw.v.(int64)
	if !ok {
		hint := ""
		if s, quoted := raw.v.(string); quoted {
			hint = fmt.Sprintf("write the number without quotes: %s = %s", key[strings.LastIndexByte(key, '.')+1:], s)
		}
		p.errf(key, hint, "want a whole number of bytes, not %s", tomlType(raw.v))
		return -1
	}
	if err := checkSize(n); err != nil {
		p.errf(key, "", "%v", err)
	}
	return n
}

// rawSize is a size as written, whatever its TOML type: a size of the wrong
// type (a quoted number) is then one error naming its key and line, listed
// with the file's other errors, not a decoder error that stops the parse.
type rawSize struct{ v any }

func (s *rawSize) UnmarshalTOML(v any) error {
	s.v = v
	return nil
}

// tomlType names the TOML type of a decoded value, for errors.
func tomlType(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// checkPath accepts a relative, slash-separated path that stays below its root.
func checkPath(p string) error {
	switch {
	case hasControl(p):
		return errors.New("path has a control character (NUL, newline, ...)")
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p):
		return fmt.Errorf("path %q is absolute; it must be relative to its dir", p)
	case strings.Contains(p, `\`):
		return fmt.Errorf("path %q has a backslash; use / between folders", p)
	case len(p) > maxPathLen:
		return fmt.Errorf("path is %d bytes; the limit is %d", len(p), maxPathLen)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("path %q has \"..\"; it must stay inside its dir", p)
		}
	}
	c := path.Clean(p)
	if c == "." || !filepath.IsLocal(filepath.FromSlash(c)) {
		return fmt.Errorf("path %q does not name a file inside its dir", p)
	}
	if long := longComponent(path.Dir(c), MaxComponentLen); long != "" {
		return fmt.Errorf("folder name %.20q... is %d bytes; filesystems allow %d", long, len(long), MaxComponentLen)
	}
	if base := path.Base(c); len(base) > MaxNameLen {
		return fmt.Errorf("file name %.20q... is %d bytes; filesystems allow %d", base, len(base), MaxNameLen)
	}
	return nil
}

// longComponent returns the first slash-separated part of p longer than
// limit bytes, or "".
func longComponent(p string, limit int) string {
	for _, part := range strings.Split(p, "/") {
		if len(part) > limit {
			return part
		}
	}
	return ""
}

// Schemes the fetcher supports.
var schemes = map[string]bool{"http": true, "https": true, "file": true}

func (p *parser) url(key, baseDir, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		p.errf(key, "", "bad url: %v", cleanURLError(err))
		return nil
	}
	if hasControl(raw) {
		p.errf(key, "", "url has a control character")
		return nil
	}
	switch u.Scheme = strings.ToLower(u.Scheme); {
	case u.Scheme == "":
		p.errf(key, "", "url %q has no scheme; use https://, http:// or file://", raw)
		return nil
	case !schemes[u.Scheme]:
		p.errf(key, "", "unsupported url scheme %q; use https, http or file", u.Scheme)
		return nil
	case u.Scheme == "file":
		return p.fileURL(key, baseDir, u)
	case u.Host == "":
		p.errf(key, "", "url %q has no host", raw)
		return nil
	}
	return u
}

func (p *parser) fileURL(key, baseDir string, u *url.URL) *url.URL {
	if u.Host != "" && u.Host != "localhost" {
		p.errf(key, "", "file url names host %q; only local files can be read", u.Host)
		return nil
	}
	f := u.Path
	if u.Opaque != "" { // file:relative/path
		f = u.Opaque
		if uf, err := url.PathUnescape(f); err == nil {
			f = uf
		}
	}
	if f == "" {
		p.errf(key, "", "file url names no file")
		return nil
	}
	f = filepath.FromSlash(f)
	if !filepath.IsAbs(f) {
		f = filepath.Join(baseDir, f)
	}
	return &url.URL{Scheme: "file", Path: filepath.ToSlash(f)}
}

func cleanURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
