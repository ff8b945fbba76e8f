package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
const shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name      string
		src, want string
		edits     []Edit
	}{
		{
			name: "insert after path, keeping indentation and comments",
			src: `version = 1
[models.a]   # the a model
  path = 'a.bin'   # where
  urls = ["https://h/a"]
`,
			edits: []Edit{{Model: "a", Source: -1, Key: "size", Value: int64(12)}, {Model: "a", Source: -1, Key: "sha256", Value: shaA}},
			want: `version = 1
[models.a]   # the a model
  path = 'a.bin'   # where
  sha256 = "` + shaA + `"
  size = 12
  urls = ["https://h/a"]
`,
		},
		{
			name: "replace in place, quoting and comment kept",
			src:  "version = 1\n[models.a]\npath = \"a\"\nsha256    =   \"" + shaB + "\"  # old\nsize=1_000\nurls = [\"https://h/a\"]\n",
			edits: []Edit{
				{Model: "a", Source: -1, Key: "sha256", Value: shaA},
				{Model: "a", Source: -1, Key: "size", Value: int64(7)},
			},
			want: "version = 1\n[models.a]\npath = \"a\"\nsha256    =   \"" + shaA + "\"  # old\nsize=7\nurls = [\"https://h/a\"]\n",
		},
		{
			name:  "sha256 goes before an existing size",
			src:   "version = 1\n[models.a]\nurls = [\"https://h/a\"]\nsize = 3\npath = \"a\"\n",
			edits: []Edit{{Model: "a", Source: -1, Key: "sha256", Value: shaA}},
			want:  "version = 1\n[models.a]\nurls = [\"https://h/a\"]\nsha256 = \"" + shaA + "\"\nsize = 3\npath = \"a\"\n",
		},
		{
			name: "array-table source, after compression",
			src: `version = 1
[models.a]
path = "a"
urls = [
  "https://h/a.bz2",  # primary
]

[[models.a.sources]]
url = "https://m/a"
compression = "none"

[[models.a.sources]]
url = "https://n/a.gz"
`,
			edits: []Edit{
				{Model: "a", Source: 1, Key: "sha256", Value: shaB}, {Model: "a", Source: 1, Key: "size", Value: int64(5)},
				{Model: "a", Source: -1, Key: "sha256", Value: shaA},
			},
			want: `version = 1
[models.a]
path = "a"
sha256 = "` + shaA + `"
urls = [
  "https://h/a.bz2",  # primary
]

[[models.a.sources]]
url = "https://m/a"
compression = "none"

[[models.a.sources]]
url = "https://n/a.gz"
sha256 = "` + shaB + `"
size = 5
`,
		},
		{
			name: "inline-table sources",
			src: `version = 1
[models.a]
path = "a"
sources = [
  { url = "https://m/a", compression = "none" },
  {url="https://n/a", size = 9},
]
`,
			edits: []Edit{
				{Model: "a", Source: 0, Key: "sha256", Value: shaA}, {Model: "a", Source: 0, Key: "size", Value: int64(4)},
				{Model: "a", Source: 1, Key: "sha256", Value: shaB}, {Model: "a", Source: 1, Key: "size", Value: int64(8)},
			},
			want: `version = 1
[models.a]
path = "a"
sources = [
  { url = "https://m/a", compression = "none", sha256 = "` + shaA + `", size = 4 },
  {url="https://n/a", size = 8, sha256 = "` + shaB + `"},
]
`,
		},
		{
			name:  "no trailing newline, multi-line string elsewhere",
			src:   "version = 1\nnote = \"\"\"\n[models.fake]\n\"\"\"\n[models.a]\npath = \"a\"\nurls = [\"file:x\"]",
			edits: []Edit{{Model: "a", Source: -1, Key: "sha256", Value: shaA}},
			want:  "version = 1\nnote = \"\"\"\n[models.fake]\n\"\"\"\n[models.a]\npath = \"a\"\nsha256 = \"" + shaA + "\"\nurls = [\"file:x\"]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// "note" is not a manifest key; allow it for this layout test only.
			src := tc.src
			got, err := applyLoose(src, tc.edits)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

// applyLoose runs Apply, tolerating the extra "note" key some cases use to
// put tricky syntax in front of the model.
func applyLoose(src string, edits []Edit) ([]byte, error) {
	if !strings.Contains(src, "note =") {
		return Apply("m.toml", "/", []byte(src), edits)
	}
	doc, err := parseDoc([]byte(src))
	if err != nil {
		return nil, err
	}
	var sp []splice
	for _, e := range edits {
		s, err := doc.plan(src, e.Model, e.Source, []Edit{e})
		if err != nil {
			return nil, err
		}
		sp = append(sp, s...)
	}
	return applySplices([]byte(src), sp), nil
}

func TestApplyRefusesWhatItCannotEdit(t *testing.T) {
	src := "version = 1\nmodels.a = { path = \"a\", urls = [\"https://h/a\"] }\n"
	_, err := Apply("m.toml", "/", []byte(src), []Edit{{Model: "a", Source: -1, Key: "sha256", Value: shaA}})
	require.ErrorContains(t, err, "not written as a [models.a] table")

	_, err = Apply("m.toml", "/", []byte("version = 1\n[models.a\n"), nil)
	require.Error(t, err, "a file that does not parse is never edited")
}

// FuzzApply edits every value lock can write in whatever manifest parses:
// Apply must never panic, and never report that its own edit broke the file
// or did not take.
func FuzzApply(f *testing.F) {
	f.Add([]byte("version = 1\n[models.a]   # c\n  path = 'a.bin'\n  urls = [\"https://h/a\"]\n"), int64(12))
	f.Add([]byte("version = 1\n[models.a]\npath = \"a\"\nsha256    =   \""+shaB+"\"  # old\nsize=1_000\nurls = [\"https://h/a\"]\n"), int64(7))
	f.Add([]byte("version = 1\n[models.a]\npath = \"a\"\nurls = [\n  \"https://h/a.bz2\",  # primary\n]\n\n[[models.a.sources]]\nurl = \"https://m/a\"\ncompression = \"none\"\n\n[[models.a.sources]]\nurl = \"https://n/a.gz\"\n"), int64(5))
	f.Add([]byte("version = 1\n[models.a]\npath = \"a\"\nsources = [\n  { url = \"https://m/a\", compression = \"none\" },\n  {url=\"https://n/a\", size = 9},\n]\n"), int64(0))
	f.Add([]byte("version = 1\n[models.\"a\"]\n\"path\" = \"a\"\n'urls' = ['''https://h/a''']\n[models.b]\npath = \"b\"\nsize = 3\nurls = [\"https://h/b\"]\r\n"), int64(1))
	f.Fuzz(func(t *testing.T, src []byte, size int64) {
		m, err := Parse("f.toml", "/base", src)
		if err != nil {
			return
		}
		if size < 0 {
			size = -size
		}
		if size < 0 || size > 1<<40 {
			size %= 1 << 40
		}
		var edits []Edit
		for _, mod := range m.Models {
			edits = append(edits, Edit{Model: mod.Name, Source: -1, Key: "sha256", Value: shaA}, Edit{Model: mod.Name, Source: -1, Key: "size", Value: size})
			n := 0
			for _, s := range mod.Sources {
				if s.Table {
					edits = append(edits, Edit{Model: mod.Name, Source: n, Key: "size", Value: size + 1}, Edit{Model: mod.Name, Source: n, Key: "sha256", Value: shaB})
					n++
				}
			}
		}
		out, err := Apply("f.toml", "/base", src, edits)
		if err != nil {
			if strings.Contains(err.Error(), "a bug") {
				t.Fatalf("%v\n--- src\n%s", err, src)
			}
			return
		}
		if _, err := Parse("f.toml", "/base", out); err != nil {
			t.Fatalf("edited file does not parse: %v", err)
		}
	})
}

func TestApplyKeepsTheSizeLimit(t *testing.T) {
	src := "version = 1\n[models.a]\npath = \"a\"\nurls = [\"https://h/a\"]\n"
	src += "#" + strings.Repeat("x", MaxManifestSize-len(src)-2) + "\n"
	require.Len(t, src, MaxManifestSize)
	_, err := Apply("m.toml", "/", []byte(src), []Edit{{Model: "a", Source: -1, Key: "sha256", Value: shaA}})
	require.EqualError(t, err, "m.toml: the edited manifest would be larger than 1048576 bytes (1 MiB); nothing written")
}
