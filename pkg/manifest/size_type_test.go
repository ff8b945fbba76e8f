package manifest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A quoted size names its key and line and how to write it, and the file's
// other errors are still listed with it.
func TestSizeOfTheWrongType(t *testing.T) {
	src := "version = 1\n[models.a]\npath = \"a\"\nurls = [\"https://h/a\"]\nsize = \"4000000\"\nbogus = 1\n" +
		"[models.b]\npath = \"b\"\nurls = [\"ftp://h/b\"]\n[[models.b.sources]]\nurl = \"https://h/b\"\nsize = 1.5\n"
	_, err := Parse("m.toml", "/base", []byte(src))
	var list ErrorList
	require.ErrorAs(t, err, &list)
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	assert.Contains(t, got, `m.toml:6: models.a.bogus: unknown key "bogus"`)

	src = "version = 1\n[models.a]\npath = \"a\"\nurls = [\"https://h/a\"]\nsize = \"4000000\"\n" +
		"[models.b]\npath = \"b\"\nurls = [\"ftp://h/b\"]\n[[models.b.sources]]\nurl = \"https://h/b\"\nsize = 1.5\n"
	_, err = Parse("m.toml", "/base", []byte(src))
	require.ErrorAs(t, err, &list)
	got = nil
	for _, e := range list {
		got = append(got, e.Error())
	}
	assert.Equal(t, []string{
		`m.toml:5: models.a.size: want a whole number of bytes, not the string "4000000"`,
		`m.toml:8: models.b.urls: unsupported url scheme "ftp"; use https, http or file`,
		`m.toml:11: models.b.sources.0.size: want a whole number of bytes, not a float`,
	}, got)
	assert.Equal(t, "write the number without quotes: size = 4000000", list[0].Hint)
}
