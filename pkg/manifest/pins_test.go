package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestPinsParse(t *testing.T) {
	src := `version = 1
[models.cf]
path = "cf/codeformer.pth"
urls = ["hf://sczhou/CodeFormer/codeformer.pth", "oci://ghcr.io/acme/m:v1#codeformer.pth", "hf://sczhou/CodeFormer/codeformer.pth"]
pins = { "hf://sczhou/CodeFormer@main" = "` + commitA + `", "oci://ghcr.io/acme/m:v1" = "` + digestA + `" }

[[models.cf.sources]]
url = "hf://o/r@` + commitA + `/x.pth"
`
	m, err := Parse("m.toml", "/base", []byte(src))
	require.NoError(t, err)
	mod := m.Models[0]
	require.Len(t, mod.Sources, 4)
	assert.Equal(t, commitA, mod.Sources[0].Ref.Pin)
	assert.Equal(t, digestA, mod.Sources[1].Ref.Pin)
	assert.Equal(t, commitA, mod.Sources[2].Ref.Pin, "one pin serves every source of that reference")
	assert.Equal(t, "", mod.Sources[3].Ref.Pin)
	assert.True(t, mod.Sources[3].Ref.Immutable())
	assert.Equal(t, "hf", mod.Sources[0].Parsed.Scheme)
	assert.Equal(t, `{ "hf://sczhou/CodeFormer@main" = "`+commitA+`", "oci://ghcr.io/acme/m:v1" = "`+digestA+`" }`, mod.PinList().String())
}

func TestPinsErrors(t *testing.T) {
	head := "version = 1\n[models.a]\npath = \"a\"\nurls = [\"hf://o/r/f\", \"oci://docker.io/x:1#f\"]\n"
	for _, tc := range []struct{ pins, want string }{
		{`pins = { "hf://o/r@v2" = "` + commitA + `" }`, `m.toml:5: models.a.pins.hf://o/r@v2: pin "hf://o/r@v2": no source of this model has that moving reference`},
		{`pins = { "hf://o/r" = "` + commitA + `" }`, `write it as "hf://o/r@main"`},
		{`pins = { "oci://docker.io/x:1" = "` + digestA + `" }`, `write it as "oci://registry-1.docker.io/library/x:1"`},
		{`pins = { "hf://o/r@main" = "main" }`, `m.toml:5: models.a.pins.hf://o/r@main: pin "hf://o/r@main" = "main": want a 40-hex lowercase commit`},
		{`pins = { "oci://registry-1.docker.io/library/x:1" = "` + commitA + `" }`, `want sha256: and 64 lowercase hex`},
		{`pins = { "hf://o/r@main" = 3 }`, `m.toml:5`},
		{`pinz = {}`, `did you mean "pins"`},
		// Only the inline table lock writes: a string is not silently
		// ignored, and a table or dotted keys could not be moved by lock.
		{`pins = "` + commitA + `"`, `m.toml:5: models.a.pins: want an inline table of moving reference = commit`},
		{"[models.a.pins]\n\"hf://o/r@main\" = \"" + commitA + "\"", `m.toml:5: models.a.pins: want one inline table, not a [models.a.pins] table`},
		{`pins."hf://o/r@main" = "` + commitA + `"`, `m.toml:5: models.a.pins: want one inline table, not dotted keys`},
	} {
		_, err := Parse("m.toml", "/b", []byte(head+tc.pins+"\n"))
		require.Error(t, err, tc.pins)
		assert.Contains(t, err.Error()+hints(err), tc.want, tc.pins)
	}
	_, err := Parse("m.toml", "/b", []byte("version = 1\n[models.a]\npath = \"a\"\nurls = [\"hf://o/r/\"]\n"))
	require.Error(t, err)
	assert.Equal(t, `m.toml:4: models.a.urls: bad reference "hf://o/r/": names no file: want hf://ORG/REPO[@REV]/PATH`, err.Error())
}

func hints(err error) string {
	var s []string
	if l, ok := err.(ErrorList); ok {
		for _, e := range l {
			s = append(s, e.Hint)
		}
	}
	return strings.Join(s, "\n")
}

func TestApplyPins(t *testing.T) {
	src := `version = 1
# models
[models.a]  # a
path = "a"
urls = [
  "hf://o/r/f",   # the hub
]
# after a

[models.b]
path = "b"
urls = ["https://h/b"]
`
	pins := Pins{{Key: "hf://o/r@main", Value: commitA}}
	out, err := Apply("m.toml", "/b", []byte(src), []Edit{
		{Model: "a", Source: -1, Key: KeyPins, Value: pins},
		{Model: "a", Source: -1, Key: "sha256", Value: shaA},
		{Model: "a", Source: -1, Key: "size", Value: int64(3)},
	})
	require.NoError(t, err)
	want := strings.Replace(src, "path = \"a\"\n", "path = \"a\"\nsha256 = \""+shaA+"\"\nsize = 3\n", 1)
	want = strings.Replace(want, "]\n# after a", "]\npins = { \"hf://o/r@main\" = \""+commitA+"\" }\n# after a", 1)
	assert.Equal(t, want, string(out))

	// Moving the pin replaces the line's value whole; nothing else changes.
	commitB := strings.Repeat("b", 40)
	out2, err := Apply("m.toml", "/b", out, []Edit{{Model: "a", Source: -1, Key: KeyPins, Value: Pins{{Key: "hf://o/r@main", Value: commitB}}}})
	require.NoError(t, err)
	assert.Equal(t, strings.Replace(string(out), commitA, commitB, 1), string(out2))

	// Pins written as a table cannot be replaced as one line: refused with
	// the manifest's place before any edit.
	tbl := strings.Replace(src, "# after a", "[models.a.pins]\n\"hf://o/r@main\" = \""+commitA+"\"", 1)
	_, err = Apply("m.toml", "/b", []byte(tbl), []Edit{{Model: "a", Source: -1, Key: KeyPins, Value: Pins{{Key: "hf://o/r@main", Value: commitB}}}})
	assert.ErrorContains(t, err, "m.toml:8: models.a.pins: want one inline table")
}

func TestAppendModels(t *testing.T) {
	src := "version = 1\n# keep me\n[models.a]\npath = \"a\"\nurls = [\"https://h/a\"]" // no final newline
	out, err := AppendModels("m.toml", "/b", []byte(src), []NewModel{
		{Name: "w.v2", Dir: "models", Path: "w/x.bin", URLs: []string{"hf://o/r/x.bin"}, Size: -1,
			Pins: Pins{{Key: "hf://o/r@main", Value: commitA}}},
		{Name: "c", Path: "c", URLs: []string{"file:c"}, SHA256: shaA, Size: 1},
	})
	require.NoError(t, err)
	assert.Equal(t, src+"\n\n[models.\"w.v2\"]\npath = \"w/x.bin\"\nurls = [\"hf://o/r/x.bin\"]\npins = { \"hf://o/r@main\" = \""+commitA+"\" }\n"+
		"\n[models.c]\npath = \"c\"\nsha256 = \""+shaA+"\"\nsize = 1\nurls = [\"file:c\"]\n", string(out))
	m, err := Parse("m.toml", "/b", out)
	require.NoError(t, err)
	assert.Equal(t, commitA, m.Model("w.v2").Sources[0].Ref.Pin)

	_, err = AppendModels("m.toml", "/b", out, []NewModel{{Name: "a", Path: "z", URLs: []string{"https://h/z"}, Size: -1}})
	assert.EqualError(t, err, "m.toml:3: models.a: a model of that name exists already")
	_, err = AppendModels("m.toml", "/b", nil, []NewModel{{Name: "n", Path: "z", URLs: []string{"https://h/z"}, Size: -1}, {Name: "n", Path: "y", URLs: []string{"https://h/y"}, Size: -1}})
	assert.ErrorContains(t, err, "exists already")

	empty, err := AppendModels("m.toml", "/b", []byte("\n"), []NewModel{{Name: "n", Path: "z", URLs: []string{"https://h/z"}, Size: -1}})
	require.NoError(t, err)
	assert.Equal(t, "version = 1\n\n[models.n]\npath = \"z\"\nurls = [\"https://h/z\"]\n", string(empty))
}

// A manifest with CRLF line endings keeps them: every line lock or add
// writes ends as the file's lines do, and the human's own lines are kept
// byte for byte.
func TestEditsKeepCRLF(t *testing.T) {
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	src := crlf("version = 1\n[models.a]  # a\npath = \"a\"\nurls = [\"hf://o/r/f\"]\n\n[models.b]\npath = \"b\"\nsize = 3\nurls = [\"https://h/b\"]\n")
	out, err := Apply("m.toml", "/b", []byte(src), []Edit{
		{Model: "a", Source: -1, Key: KeyPins, Value: Pins{{Key: "hf://o/r@main", Value: commitA}}},
		{Model: "a", Source: -1, Key: "sha256", Value: shaA},
		{Model: "a", Source: -1, Key: "size", Value: int64(3)},
		{Model: "b", Source: -1, Key: "sha256", Value: shaA},
	})
	require.NoError(t, err)
	want := crlf("version = 1\n[models.a]  # a\npath = \"a\"\nsha256 = \"" + shaA + "\"\nsize = 3\nurls = [\"hf://o/r/f\"]\npins = { \"hf://o/r@main\" = \"" + commitA + "\" }\n\n" +
		"[models.b]\npath = \"b\"\nsha256 = \"" + shaA + "\"\nsize = 3\nurls = [\"https://h/b\"]\n")
	assert.Equal(t, want, string(out))

	out, err = AppendModels("m.toml", "/b", []byte(src), []NewModel{{Name: "c", Path: "c", URLs: []string{"https://h/c"}, Size: -1}})
	require.NoError(t, err)
	assert.Equal(t, src+crlf("\n[models.c]\npath = \"c\"\nurls = [\"https://h/c\"]\n"), string(out))
}
