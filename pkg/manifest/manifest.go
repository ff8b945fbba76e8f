// Package manifest reads and validates models.toml, the list of artifacts to
// fetch and where to install them.
//
// Parsing is strict: unknown keys, a wrong schema version, malformed digests,
// paths that escape their root and unsupported URL schemes are errors that name
// the file and line. Load never touches the network and never reads anything
// but the manifest file.
package manifest

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
)

// SchemaVersion is the only manifest version this build understands.
const SchemaVersion = 1

// DefaultDir is the install root a model uses when it names none; --out replaces it.
const DefaultDir = "models"

// Manifest is a parsed and validated models.toml.
type Manifest struct {
	// File is the manifest's path as given, for messages.
	File string
	// BaseDir is the folder relative [dirs] paths and file: URLs are resolved against.
	BaseDir string
	// Defaults applies to every installed file and created directory.
	Defaults Defaults
	// Dirs maps each install root's name to its absolute path.
	Dirs map[string]string
	// Models in file order.
	Models []*Model
}

// Defaults are the ownership and modes of installed files and created directories.
type Defaults struct {
	Owner    *Owner      // nil: leave ownership to the running user
	FileMode os.FileMode // 0644 when not set
	DirMode  os.FileMode // 0755 when not set
}

// Owner is a numeric uid:gid.
type Owner struct{ UID, GID int }

func (o Owner) String() string { return fmt.Sprintf("%d:%d", o.UID, o.GID) }

// ParseOwner parses "uid:gid" with numeric ids.
func ParseOwner(s string) (*Owner, error) {
	u, g, ok := strings.Cut(s, ":")
	uid, err1 := strconv.ParseUint(u, 10, 31)
	gid, err2 := strconv.ParseUint(g, 10, 31)
	if !ok || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("owner %q: want numeric uid:gid such as 1000:1000", s)
	}
	return &Owner{UID: int(uid), GID: int(gid)}, nil
}

// Model is one artifact: what to fetch and where to install it.
type Model struct {
	Name string
	// Dir names the install root (a key of Manifest.Dirs).
	Dir string
	// Path is the slash-separated path below the root; always local (no "..",
	// not absolute).
	Path string
	// SHA256 of the installed bytes; zero when not locked yet.
	SHA256 digest.Digest
	// Size of the installed bytes; -1 when not declared.
	Size int64
	// Sources in the order they are tried: the plain urls, then [[sources]].
	Sources []*Source
	// Line is where the model's table starts.
	Line int
}

// Locked reports whether the model has what fetching needs: its digest.
func (m *Model) Locked() bool { return !m.SHA256.IsZero() }

// Source is one place a model can be fetched from.
type Source struct {
	// URL as written in the manifest.
	URL string
	// Parsed is URL parsed; a relative file: URL is resolved against the
	// manifest's folder.
	Parsed *url.URL
	// Compression of the served bytes; decompress.Auto to detect it.
	Compression decompress.Format
	// SHA256 and Size of the bytes as served, when declared (zero / -1 if not).
	SHA256 digest.Digest
	Size   int64
	// Table is true for a [[models.NAME.sources]] entry, false for a urls item.
	Table bool
	// Line is where the source is written.
	Line int
}

// Error is one manifest problem, tied to a line.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key path, when there is one
	Msg  string
	Hint string // a next step for the user, or ""
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a manifest; Error joins them with newlines.
type ErrorList []*Error

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads and parses the manifest at file.
func Load(file string) (*Manifest, error) {
	m, _, err := ReadFile(file)
	return m, err
}

// ReadFile is Load that also returns the file's bytes, for editing them in
// place (see Apply).
func ReadFile(file string) (*Manifest, []byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, ErrorList{{File: file, Msg: unwrapPathError(err)}}
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, nil, ErrorList{{File: file, Msg: err.Error()}}
	}
	m, err := Parse(file, filepath.Dir(abs), b)
	return m, b, err
}

func unwrapPathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

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
	Dir     *string     `toml:"dir"`
	Path    *string     `toml:"path"`
	SHA256  *string     `toml:"sha256"`
	Size    *int64      `toml:"size"`
	URLs    []string    `toml:"urls"`
	Sources []rawSource `toml:"sources"`
}

type rawSource struct {
	URL         *string `toml:"url"`
	Compression *string `toml:"compression"`
	SHA256      *string `toml:"sha256"`
	Size        *int64  `toml:"size"`
}

// Parse parses manifest text. file names it in errors; baseDir is the folder
// relative paths are resolved against. The error, if any, is an ErrorList.
func Parse(file, baseDir string, src []byte) (*Manifest, error) {
	var raw rawManifest
	md, err := toml.Decode(string(src), &raw)
	if err != nil {
		return nil, ErrorList{tomlError(file, err)}
	}
	p := &parser{file: file, pos: scanPositions(string(src))}
	for _, k := range md.Undecoded() {
		p.errf(k.String(), "", "unknown key %q", k[len(k)-1])
	}
	if len(p.errs) > 0 {
		// The structure is off; checking values as well would pile up noise.
		return nil, p.errs
	}
	m := &Manifest{File: file, BaseDir: baseDir, Dirs: map[string]string{}}
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
		case filepath.IsAbs(dir):
			m.Dirs[name] = filepath.Clean(dir)
		default:
			m.Dirs[name] = filepath.Join(baseDir, dir)
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
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return m, nil
}

// decodeErrLine matches the decoder's type errors, which carry their line in
// the text rather than as a toml.ParseError.
var decodeErrLine = regexp.MustCompile(`^toml: line (\d+) \(last key "[^"]*"\): `)

func tomlError(file string, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if msg == "" {
			msg = pe.Error()
		}
		return &Error{File: file, Line: pe.Position.Line, Msg: "toml: " + tidy(msg)}
	}
	msg := err.Error()
	line := 0
	if m := decodeErrLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	return &Error{File: file, Line: line, Msg: "toml: " + tidy(strings.TrimPrefix(msg, "toml: "))}
}

// tidy makes a library message fit our error style: one line, lower case
// start, no trailing period.
func tidy(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimSuffix(s, ".")
	if len(s) > 1 && s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z') {
		s = string(s[0]+'a'-'A') + s[1:]
	}
	return s
}

type parser struct {
	file string
	pos  positions
	errs ErrorList
}

func (p *parser) errf(key, hint, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: p.pos.line(key), Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint})
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
	if raw.SHA256 != nil {
		d, err := digest.Parse(*raw.SHA256)
		if err != nil {
			p.errf(key+".sha256", "", "%v", err)
		}
		mod.SHA256 = d
	}
	if raw.Size != nil {
		if *raw.Size < 0 {
			p.errf(key+".size", "", "must not be negative")
		}
		mod.Size = *raw.Size
	}
	for _, u := range raw.URLs {
		k := key + ".urls"
		s := &Source{URL: u, Size: -1, Line: p.pos.line(k)}
		s.Parsed = p.url(k, m.BaseDir, u)
		mod.Sources = append(mod.Sources, s)
	}
	for i, rs := range raw.Sources {
		k := fmt.Sprintf("%s.sources.%d", key, i)
		s := &Source{Size: -1, Table: true, Line: p.pos.line(k)}
		if rs.URL == nil {
			p.errf(k, "", "source has no url")
		} else {
			s.URL = *rs.URL
			s.Parsed = p.url(k+".url", m.BaseDir, s.URL)
		}
		if rs.Compression != nil {
			f, err := decompress.Parse(*rs.Compression)
			if err != nil {
				p.errf(k+".compression", "", "%v", err)
			}
			s.Compression = f
		}
		if rs.SHA256 != nil {
			d, err := digest.Parse(*rs.SHA256)
			if err != nil {
				p.errf(k+".sha256", "", "%v", err)
			}
			s.SHA256 = d
		}
		if rs.Size != nil {
			if *rs.Size < 0 {
				p.errf(k+".size", "", "must not be negative")
			}
			s.Size = *rs.Size
		}
		mod.Sources = append(mod.Sources, s)
	}
	if len(mod.Sources) == 0 {
		p.errf(key, "", "no urls and no sources: nothing to fetch from")
	}
	return mod
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
	return nil
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

// Select returns the models named in names, in manifest order; all of them when
// names is empty. An unknown name is an error.
func (m *Manifest) Select(names []string) ([]*Model, error) {
	if len(names) == 0 {
		return m.Models, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		if m.Model(n) == nil {
			return nil, fmt.Errorf("%s: no model named %q (have: %s)", m.File, n, strings.Join(m.names(), ", "))
		}
		want[n] = true
	}
	var out []*Model
	for _, mod := range m.Models {
		if want[mod.Name] {
			out = append(out, mod)
		}
	}
	return out, nil
}

// Model returns the model called name, or nil.
func (m *Manifest) Model(name string) *Model {
	for _, mod := range m.Models {
		if mod.Name == name {
			return mod
		}
	}
	return nil
}

func (m *Manifest) names() []string {
	var n []string
	for _, mod := range m.Models {
		n = append(n, mod.Name)
	}
	return n
}

// RequireLocked reports every model among models that has no sha256: such a
// model cannot be fetched safely. The error is an ErrorList.
func (m *Manifest) RequireLocked(models []*Model) error {
	var errs ErrorList
	for _, mod := range models {
		if !mod.Locked() {
			errs = append(errs, &Error{File: m.File, Line: mod.Line, Key: "models." + mod.Name,
				Msg:  "no sha256: refusing to fetch what cannot be verified",
				Hint: "run `modelfetch lock` to record its sha256 and size"})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// SetDir points the root called name at dir (made absolute against the
// working directory). Only roots the manifest names can be replaced, except
// DefaultDir, which --out may always set.
func (m *Manifest) SetDir(name, dir string) error {
	if _, ok := m.Dirs[name]; !ok && name != DefaultDir {
		names := make([]string, 0, len(m.Dirs))
		for n := range m.Dirs {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("no dir named %q in %s (have: %s)", name, m.File, strings.Join(names, ", "))
	}
	if dir == "" {
		return fmt.Errorf("dir %s: empty path", name)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	m.Dirs[name] = abs
	return nil
}

// Root returns the absolute install root of mod, or an error when no root of
// that name is defined.
func (m *Manifest) Root(mod *Model) (string, error) {
	if d, ok := m.Dirs[mod.Dir]; ok {
		return d, nil
	}
	return "", &Error{File: m.File, Line: mod.Line, Key: "models." + mod.Name,
		Msg:  fmt.Sprintf("install root %q is not defined", mod.Dir),
		Hint: "pass --out DIR, or name it in [dirs]"}
}
