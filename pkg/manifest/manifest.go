// Package manifest reads and validates models.toml, the list of artifacts to
// fetch and where to install them.
//
// Parsing is strict: unknown keys, a wrong schema version, malformed digests,
// paths that escape their root and unsupported URL schemes are errors that name
// the file and line. Load never touches the network and never reads anything
// but the manifest file.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/djok/modelfetch/internal/fsutil"
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
	// Pins maps a source's moving reference (Ref.Key) to its immutable
	// target; nil when the model has no pins key.
	Pins map[string]string
	// Line is where the model's table starts.
	Line int
}

// Locked reports whether the model records its sha256. Fetching needs its
// size as well (see RequireLocked).
func (m *Model) Locked() bool { return !m.SHA256.IsZero() }

// Source is one place a model can be fetched from.
type Source struct {
	// URL as written in the manifest.
	URL string
	// Parsed is URL parsed; a relative file: URL is resolved against the
	// manifest's folder.
	Parsed *url.URL
	// Ref is the parsed hf:// or oci:// reference; nil for a plain URL.
	Ref *Ref
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

// Load reads and parses the manifest at file.
func Load(file string) (*Manifest, error) {
	m, _, err := ReadFile(file)
	return m, err
}

// ReadFile is Load that also returns the file's bytes, for editing them in
// place (see Apply).
func ReadFile(file string) (*Manifest, []byte, error) {
	b, err := readLimited(file)
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

// readLimited reads file, refusing one larger than MaxManifestSize without
// reading more than that.
func readLimited(file string) ([]byte, error) {
	b, err := fsutil.ReadRegularFile(file, MaxManifestSize)
	if errors.Is(err, fsutil.ErrTooLarge) {
		return nil, errTooLarge
	}
	return b, err
}

var errTooLarge = fmt.Errorf("manifest is larger than %d bytes (1 MiB); refusing to read it", MaxManifestSize)

// Parse parses manifest text. file names it in errors; baseDir is the folder
// relative paths are resolved against. The error, if any, is an ErrorList.
//
// What is absurd is refused before any parser sees it: a text larger than
// MaxManifestSize, brackets nested deeper than MaxNesting. Every size is
// range-checked (at most MaxSize), and at most MaxErrors problems are listed.
func Parse(file, baseDir string, src []byte) (*Manifest, error) {
	if len(src) > MaxManifestSize {
		return nil, ErrorList{{File: file, Msg: errTooLarge.Error()}}
	}
	if e := NestingError(file, src); e != nil {
		return nil, ErrorList{e}
	}
	var raw rawManifest
	md, err := toml.Decode(string(src), &raw)
	if err != nil {
		return nil, ErrorList{DecodeError(file, err)}
	}
	d, err := parseDoc(src)
	if err != nil {
		// The decoder took what go-toml refuses: rare corners of TOML.
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, ErrorList{{File: file, Line: lineOf(src, se.offset), Msg: "toml: " + Tidy(se.msg)}}
		}
		return nil, ErrorList{{File: file, Msg: "toml: " + Tidy(err.Error())}}
	}
	p := &parser{file: file, pos: d.pos, errs: errorList{file: file}}
	p.checkKeys(d.keys)
	p.pinsLayout(d)
	if err := p.errs.err(); err != nil {
		// The structure is off; checking values as well would pile up noise.
		return nil, err
	}
	m := &Manifest{File: file, BaseDir: baseDir, Dirs: map[string]string{}}
	p.manifest(m, &raw, md)
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return m, nil
}

func lineOf(src []byte, off int) int {
	return bytes.Count(src[:min(off, len(src))], []byte{'\n'}) + 1
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

// RequireLocked reports every model among models that has no sha256 or no
// size: such a model cannot be fetched safely (its bytes cannot be verified,
// or their decoding has no bound). The error is an ErrorList.
func (m *Manifest) RequireLocked(models []*Model) error {
	errs := errorList{file: m.File}
	for _, mod := range models {
		msg := ""
		switch {
		case !mod.Locked():
			msg = "no sha256: refusing to fetch what cannot be verified"
		case mod.Size < 0:
			msg = "no size: refusing to fetch what has no bound"
		default:
			continue
		}
		errs.add(&Error{File: m.File, Line: mod.Line, Key: "models." + mod.Name, Msg: msg,
			Hint: "run `modelfetch lock` to record its sha256 and size"})
	}
	return errs.err()
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
