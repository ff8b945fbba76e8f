package manifest

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/decompress"
)

const sha = "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"

const good = `# a comment
version = 1

[defaults]
owner = "1000:1000"
file_mode = "0640"
dir_mode = "0750"

[dirs]
models = "/models"
u2net = "rel/u2net"

[models.dlib]
path = "dlib/shape.dat"
sha256 = "` + sha + `"
size = 99693937
urls = [
  "http://dlib.net/files/shape.dat.bz2",   # primary
  "https://example.org/shape.dat.bz2?sig=1",
]

[[models.dlib.sources]]
url = "https://example.com/shape-fbdc2cb8.dat"
compression = "none"

[models.u2]
dir = "u2net"
path = "u2net_human_seg.onnx"
urls = ["file:local/u2.onnx", "file:///abs/u2.onnx"]
`

func TestParseGood(t *testing.T) {
	m, err := Parse("models.toml", "/base", []byte(good))
	require.NoError(t, err)
	assert.Equal(t, &Owner{UID: 1000, GID: 1000}, m.Defaults.Owner)
	assert.Equal(t, os.FileMode(0o640), m.Defaults.FileMode)
	assert.Equal(t, os.FileMode(0o750), m.Defaults.DirMode)
	assert.Equal(t, map[string]string{"models": "/models", "u2net": "/base/rel/u2net"}, m.Dirs)
	require.Len(t, m.Models, 2)

	d := m.Models[0]
	assert.Equal(t, "dlib", d.Name)
	assert.Equal(t, "models", d.Dir)
	assert.Equal(t, "dlib/shape.dat", d.Path)
	assert.Equal(t, sha, d.SHA256.String())
	assert.Equal(t, int64(99693937), d.Size)
	assert.Equal(t, 13, d.Line)
	require.Len(t, d.Sources, 3)
	assert.Equal(t, decompress.Auto, d.Sources[0].Compression)
	assert.False(t, d.Sources[0].Table)
	assert.Equal(t, decompress.None, d.Sources[2].Compression)
	assert.True(t, d.Sources[2].Table)
	assert.Equal(t, 22, d.Sources[2].Line)
	assert.Equal(t, int64(-1), d.Sources[2].Size)

	u := m.Models[1]
	assert.False(t, u.Locked())
	assert.Equal(t, "/base/local/u2.onnx", u.Sources[0].Parsed.Path)
	assert.Equal(t, "/abs/u2.onnx", u.Sources[1].Parsed.Path)
	assert.Equal(t, int64(-1), u.Size)

	err = m.RequireLocked(m.Models)
	var list ErrorList
	require.ErrorAs(t, err, &list)
	require.Len(t, list, 1)
	assert.Equal(t, "models.toml:26: models.u2: no sha256: refusing to fetch what cannot be verified", list[0].Error())
	assert.Contains(t, list[0].Hint, "modelfetch lock")
}

func TestParseErrors(t *testing.T) {
	base := "version = 1\n[models.a]\npath = \"a.bin\"\nurls = [\"https://h/a\"]\n"
	for _, tc := range []struct {
		name string
		src  string
		want string // the whole first error line
	}{
		{name: "unknown key after a table", src: base + "\nfoo = 1\n", want: `m.toml:6: models.a.foo: unknown key "foo"`},
		{name: "unknown top key", src: "foo = 1\n" + base, want: `m.toml:1: foo: unknown key "foo"`},
		{name: "unknown model key", src: "version = 1\n[models.a]\npath = \"a\"\nsha265 = \"x\"\nurls = [\"https://h/a\"]\n", want: `m.toml:4: models.a.sha265: unknown key "sha265"`},
		{name: "unknown source key", src: base + "[[models.a.sources]]\nurl = \"https://h/b\"\ncompresion = \"none\"\n", want: `m.toml:7: models.a.sources.compresion: unknown key "compresion"`},
		{name: "no version", src: "[models.a]\npath = \"a\"\nurls = [\"https://h/a\"]\n", want: "m.toml: version: missing; this build reads version = 1"},
		{name: "wrong version", src: "version = 2\n", want: "m.toml:1: version: unsupported schema version 2; this build reads version = 1"},
		{name: "bad hex", src: base + "sha256 = \"ABC\"\n", want: "m.toml:5: models.a.sha256: sha256 must be 64 lowercase hex digits, got 3 characters"},
		{name: "upper hex", src: base + "sha256 = \"" + strings.ToUpper(sha) + "\"\n", want: "m.toml:5: models.a.sha256: sha256 must be 64 lowercase hex digits, got 'F' at offset 0"},
		{name: "dotdot", src: "version = 1\n[models.a]\npath = \"../etc/passwd\"\nurls = [\"https://h/a\"]\n", want: `m.toml:3: models.a.path: path "../etc/passwd" has ".."; it must stay inside its dir`},
		{name: "inner dotdot", src: "version = 1\n[models.a]\npath = \"x/../../y\"\nurls = [\"https://h/a\"]\n", want: `m.toml:3: models.a.path: path "x/../../y" has ".."; it must stay inside its dir`},
		{name: "absolute", src: "version = 1\n[models.a]\npath = \"/etc/passwd\"\nurls = [\"https://h/a\"]\n", want: `m.toml:3: models.a.path: path "/etc/passwd" is absolute; it must be relative to its dir`},
		{name: "newline in path", src: "version = 1\n[models.a]\npath = \"a\\nb\"\nurls = [\"https://h/a\"]\n", want: `m.toml:3: models.a.path: path has a control character (NUL, newline, ...)`},
		{name: "nul in path", src: "version = 1\n[models.a]\npath = \"a\\u0000b\"\nurls = [\"https://h/a\"]\n", want: `m.toml:3: models.a.path: path has a control character (NUL, newline, ...)`},
		{name: "dot path", src: "version = 1\n[models.a]\npath = \".\"\nurls = [\"https://h/a\"]\n", want: `m.toml:3: models.a.path: path "." does not name a file inside its dir`},
		{name: "no path", src: "version = 1\n[models.a]\nurls = [\"https://h/a\"]\n", want: `m.toml:2: models.a: missing path`},
		{name: "unknown dir", src: base + "dir = \"nope\"\n", want: `m.toml:5: models.a.dir: unknown dir "nope"; name it in [dirs]`},
		{name: "ftp scheme", src: "version = 1\n[models.a]\npath = \"a\"\nurls = [\"ftp://h/a\"]\n", want: `m.toml:4: models.a.urls: unsupported url scheme "ftp"; use https, http or file`},
		{name: "no scheme", src: "version = 1\n[models.a]\npath = \"a\"\nurls = [\"h/a\"]\n", want: `m.toml:4: models.a.urls: url "h/a" has no scheme; use https://, http:// or file://`},
		{name: "no host", src: "version = 1\n[models.a]\npath = \"a\"\nurls = [\"https:///a\"]\n", want: `m.toml:4: models.a.urls: url "https:///a" has no host`},
		{name: "remote file url", src: "version = 1\n[models.a]\npath = \"a\"\nurls = [\"file://other/a\"]\n", want: `m.toml:4: models.a.urls: file url names host "other"; only local files can be read`},
		{name: "no urls", src: "version = 1\n[models.a]\npath = \"a\"\n", want: `m.toml:2: models.a: no urls and no sources: nothing to fetch from`},
		{name: "empty urls", src: "version = 1\n[models.a]\npath = \"a\"\nurls = []\n", want: `m.toml:2: models.a: no urls and no sources: nothing to fetch from`},
		{name: "source without url", src: base + "[[models.a.sources]]\ncompression = \"none\"\n", want: `m.toml:5: models.a.sources.0: source has no url`},
		{name: "bad compression", src: base + "[[models.a.sources]]\nurl = \"https://h/b\"\ncompression = \"lzma\"\n", want: `m.toml:7: models.a.sources.0.compression: unknown compression "lzma": want one of "none", "bzip2", "gzip", "zstd", "xz"`},
		{name: "negative size", src: base + "size = -1\n", want: `m.toml:5: models.a.size: must not be negative`},
		{name: "bad owner", src: base + "[defaults]\nowner = \"appuser\"\n", want: `m.toml:6: defaults.owner: owner "appuser": want numeric uid:gid such as 1000:1000`},
		{name: "bad mode", src: base + "[defaults]\nfile_mode = \"rw-r--r--\"\n", want: `m.toml:6: defaults.file_mode: "rw-r--r--" is not an octal mode such as "0644"`},
		{name: "duplicate install path", src: base + "[models.b]\npath = \"./a.bin\"\nurls = [\"https://h/b\"]\n", want: `m.toml:6: models.b.path: installs to models:a.bin like model "a"`},
		{name: "bad name", src: "version = 1\n[models.\"a b\"]\npath = \"a\"\nurls = [\"https://h/a\"]\n", want: `m.toml:2: models.a b: model names use letters, digits, '.', '_' and '-'`},
		{name: "toml syntax", src: "version = 1\n[models.a\n", want: `m.toml:3: toml: expected '.' or ']' to end table name, but got '\n' instead`},
		{name: "wrong type", src: "version = 1\n[models.a]\npath = 3\nurls = [\"https://h/a\"]\n", want: `m.toml:3: toml: incompatible types: TOML value has type int64; destination has type string`},
		{name: "duplicate model", src: base + "[models.a]\npath = \"b\"\n", want: `m.toml:5: toml: key 'models.a' has already been defined`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("m.toml", "/base", []byte(tc.src))
			require.Error(t, err)
			var list ErrorList
			require.ErrorAs(t, err, &list)
			assert.Equal(t, tc.want, list[0].Error())
			for _, e := range list {
				assert.NotContains(t, e.Error(), "\n", "errors are one line")
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "models.toml")
	require.NoError(t, os.WriteFile(f, []byte(good), 0o644))
	m, err := Load(f)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "rel/u2net"), m.Dirs["u2net"])

	_, err = Load(filepath.Join(dir, "missing.toml"))
	require.Error(t, err)
	assert.Equal(t, filepath.Join(dir, "missing.toml")+": open: no such file or directory", err.Error())
}

func TestSelectAndDirs(t *testing.T) {
	m, err := Parse("models.toml", "/base", []byte(good))
	require.NoError(t, err)
	sel, err := m.Select([]string{"u2"})
	require.NoError(t, err)
	require.Len(t, sel, 1)
	assert.Equal(t, "u2", sel[0].Name)
	_, err = m.Select([]string{"nope"})
	require.EqualError(t, err, `models.toml: no model named "nope" (have: dlib, u2)`)

	require.NoError(t, m.SetDir("u2net", "/elsewhere"))
	root, err := m.Root(m.Models[1])
	require.NoError(t, err)
	assert.Equal(t, "/elsewhere", root)
	require.EqualError(t, m.SetDir("other", "/x"), `no dir named "other" in models.toml (have: models, u2net)`)
	// A manifest without [dirs] still has the root --out sets (a new user
	// saw "(have: )").
	bare, err := Parse("bare.toml", "/", []byte("version = 1\n"))
	require.NoError(t, err)
	require.EqualError(t, bare.SetDir("u2net", "/x"), `no dir named "u2net" in bare.toml (have: models)`)

	// A manifest without [dirs] has no models root until --out sets it.
	m2, err := Parse("m.toml", "/b", []byte("version = 1\n[models.a]\npath = \"a\"\nurls = [\"https://h/a\"]\n"))
	require.NoError(t, err)
	_, err = m2.Root(m2.Models[0])
	var me *Error
	require.True(t, errors.As(err, &me))
	assert.Contains(t, me.Hint, "--out")
	require.NoError(t, m2.SetDir("models", "/out"))
	root, err = m2.Root(m2.Models[0])
	require.NoError(t, err)
	assert.Equal(t, "/out", root)
}

func TestPositionsSkipMultiline(t *testing.T) {
	src := "version = 1\ns = \"\"\"\nfake = 1\n\"\"\"\n[models.a]\nurls = [\n  \"https://x\",\n]\npath = \"a\"\n"
	d, err := parseDoc([]byte(src))
	require.NoError(t, err)
	pos := d.pos
	assert.Equal(t, 0, pos.line("fake"))
	assert.Equal(t, 5, pos.line("models.a"))
	assert.Equal(t, 6, pos.line("models.a.urls"))
	assert.Equal(t, 9, pos.line("models.a.path"))
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("version = 1\n[models.a]\npath = \"a\"\nurls = [\"https://h/a\"]\n"))
	f.Add([]byte("version = 1\n[[models.a.sources]]\nurl = \"file:x\"\ncompression = \"xz\"\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		m, err := Parse("f.toml", "/base", src)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 || len(list) > MaxErrors+1 {
				t.Fatalf("error is not an ErrorList of 1 to MaxErrors+1 problems: %v", err)
			}
			for _, e := range list {
				if e.Msg == "" || strings.Contains(e.Error(), "\n") {
					t.Fatalf("bad error line %q", e.Error())
				}
			}
			return
		}
		for _, mod := range m.Models {
			if mod.Path == "" || strings.HasPrefix(mod.Path, "/") || strings.Contains("/"+mod.Path+"/", "/../") {
				t.Fatalf("accepted a path that escapes: %q", mod.Path)
			}
			if len(mod.Sources) == 0 {
				t.Fatalf("accepted a model with no source")
			}
			if mod.Size > MaxSize || len(path.Base(mod.Path)) > MaxNameLen {
				t.Fatalf("accepted size %d, path %q", mod.Size, mod.Path)
			}
			for _, s := range mod.Sources {
				if s.Parsed == nil || !schemes[s.Parsed.Scheme] {
					t.Fatalf("accepted url %q", s.URL)
				}
			}
		}
	})
}
