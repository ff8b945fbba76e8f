package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const model = "[models.a]\npath = \"a\"\nurls = [\"https://h/a\"]\n"

// allocated runs f and returns the bytes it allocated: an upper bound of the
// heap it could have held at its peak.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The hostile manifests of the reliability issue: each is refused with one
// clear error, without a panic, allocating a few megabytes at most.
func TestHostileManifests(t *testing.T) {
	deepTables := "version = 1\na = " + strings.Repeat("{b=", 10000) + "1" + strings.Repeat("}", 10000) + "\n"
	require.Less(t, len(deepTables), 41000, "the 40 KB file of the issue")
	for _, tc := range []struct {
		name string
		src  string
		want string // the whole error
	}{
		{name: "inline tables 10,000 deep", src: deepTables, want: "m.toml:2: arrays and tables nest more than 32 deep"},
		{name: "inline tables 1,000 deep", src: "version = 1\n\n" + model + "x = " + strings.Repeat("{b=", 1000) + "1" + strings.Repeat("}", 1000) + "\n",
			want: "m.toml:6: arrays and tables nest more than 32 deep"},
		{name: "arrays 1,000,000 deep", src: "version = 1\na = " + strings.Repeat("[", 1000000) + strings.Repeat("]", 1000000) + "\n",
			want: "m.toml: manifest is larger than 1048576 bytes (1 MiB); refusing to read it"},
		{name: "arrays 500,000 deep", src: "version = 1\na = " + strings.Repeat("[", 500000) + strings.Repeat("]", 500000) + "\n",
			want: "m.toml:2: arrays and tables nest more than 32 deep"},
		{name: "brackets in strings and comments do not count", src: "version = 1\n# " + strings.Repeat("[{", 100) + "\n" + model +
			"dir = '" + strings.Repeat("[", 40) + "'\n[dirs]\n'" + strings.Repeat("{", 40) + "' = \"\"\"\n" + strings.Repeat("[", 40) + "\"\"\"\n",
			want: `m.toml:6: models.a.dir: unknown dir "` + strings.Repeat("[", 40) + `"; name it in [dirs]`},
		{name: "size of int64's maximum", src: "version = 1\n" + model + "size = 9223372036854775807\n",
			want: "m.toml:5: models.a.size: 9223372036854775807 bytes is more than the 1099511627776 (1 TiB) a manifest may declare"},
		{name: "served size of int64's maximum", src: "version = 1\n" + model + "[[models.a.sources]]\nurl = \"https://h/b\"\nsize = 9223372036854775807\n",
			want: "m.toml:7: models.a.sources.0.size: 9223372036854775807 bytes is more than the 1099511627776 (1 TiB) a manifest may declare"},
		{name: "size beyond int64", src: "version = 1\n" + model + "size = 9223372036854775808\n",
			want: "m.toml:5: toml: 9223372036854775808 is out of range for int64"},
		{name: "version of int64's maximum", src: "version = 9223372036854775807\n",
			want: "m.toml:1: version: unsupported schema version 9223372036854775807; this build reads version = 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = Parse("m.toml", "/", []byte(tc.src)) })
			var list ErrorList
			require.ErrorAs(t, err, &list)
			assert.Equal(t, tc.want, list.Error())
			assert.Less(t, n, uint64(16<<20), "allocated %d MiB", n>>20)
		})
	}
}

func TestHugeManifestFileIsNotRead(t *testing.T) {
	f := filepath.Join(t.TempDir(), "models.toml")
	fh, err := os.Create(f)
	require.NoError(t, err)
	require.NoError(t, fh.Truncate(100<<20)) // 100 MB, sparse
	require.NoError(t, fh.Close())
	n := allocated(func() { _, err = Load(f) })
	require.EqualError(t, err, f+": manifest is larger than 1048576 bytes (1 MiB); refusing to read it")
	assert.Less(t, n, uint64(8<<20), "allocated %d MiB", n>>20)
}

func TestErrorListIsCapped(t *testing.T) {
	src := "version = 1\n" + model
	for i := range 100 {
		src += strings.Repeat("x", i+1) + " = 1\n"
	}
	_, err := Parse("m.toml", "/", []byte(src))
	var list ErrorList
	require.ErrorAs(t, err, &list)
	require.Len(t, list, MaxErrors+1)
	assert.Equal(t, `m.toml:5: models.a.x: unknown key "x"`, list[0].Error())
	assert.Equal(t, "m.toml: and 80 more problems", list[MaxErrors].Error())
}

func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		src, err, hint string
	}{
		{src: "version = 1\n[models.a]\npath = \"a\"\nsha265 = \"x\"\nurls = [\"https://h/a\"]\n",
			err: `m.toml:4: models.a.sha265: unknown key "sha265"`, hint: `models.a: did you mean "sha256" instead of "sha265"?`},
		{src: "version = 1\n[models.a]\npath = \"a\"\nsiZe = 3\nurls = [\"https://h/a\"]\n",
			err: `m.toml:4: models.a.siZe: unknown key "siZe"`, hint: `models.a: did you mean "size" instead of "siZe"?`},
		{src: "verison = 1\n",
			err: `m.toml:1: verison: unknown key "verison"`, hint: `did you mean "version" instead of "verison"?`},
		{src: "version = 1\n[Models.a]\npath = \"a\"\n",
			err: `m.toml:2: Models: unknown key "Models"`, hint: `did you mean "models" instead of "Models"?`},
		{src: "version = 1\n[models.a]\npath = \"a\"\nsources = [{url = \"https://h/a\", compresion = \"none\"}]\n",
			err: `m.toml:4: models.a.sources.compresion: unknown key "compresion"`, hint: `models.a.sources: did you mean "compression" instead of "compresion"?`},
		{src: "version = 1\n[defaults]\nmode = \"0644\"\n",
			err: `m.toml:3: defaults.mode: unknown key "mode"`},
	} {
		_, err := Parse("m.toml", "/", []byte(tc.src))
		var list ErrorList
		require.ErrorAs(t, err, &list)
		require.Len(t, list, 1, "%v", err)
		assert.Equal(t, tc.err, list[0].Error())
		assert.Equal(t, tc.hint, list[0].Hint)
	}
}

func TestNameLength(t *testing.T) {
	parse := func(p string) error {
		_, err := Parse("m.toml", "/", []byte("version = 1\n[models.a]\npath = \""+p+"\"\nurls = [\"https://h/a\"]\n"))
		return err
	}
	require.NoError(t, parse(strings.Repeat("n", MaxNameLen)))
	require.NoError(t, parse(strings.Repeat("d", 255)+"/"+strings.Repeat("n", MaxNameLen)))
	err := parse(strings.Repeat("n", MaxNameLen+1))
	require.ErrorContains(t, err, "is 256 bytes; filesystems allow 255")
	err = parse(strings.Repeat("d", 256) + "/a")
	require.ErrorContains(t, err, "is 256 bytes; filesystems allow 255")
	err = parse(strings.Repeat("d/", 600) + "a")
	require.ErrorContains(t, err, "path is 1201 bytes; the limit is 1024")

}

func TestRequireLockedNeedsSize(t *testing.T) {
	m, err := Parse("m.toml", "/", []byte("version = 1\n"+model+"sha256 = \""+sha+"\"\n[models.b]\npath = \"b\"\nsize = 3\nurls = [\"https://h/b\"]\n[models.c]\npath = \"c\"\nsize = 3\nsha256 = \""+sha+"\"\nurls = [\"https://h/c\"]\n"))
	require.NoError(t, err)
	err = m.RequireLocked(m.Models)
	var list ErrorList
	require.True(t, errors.As(err, &list))
	require.Len(t, list, 2)
	assert.Equal(t, "m.toml:2: models.a: no size: refusing to fetch what has no bound", list[0].Error())
	assert.Equal(t, "m.toml:6: models.b: no sha256: refusing to fetch what cannot be verified", list[1].Error())
	assert.Equal(t, "run `modelfetch lock` to record its sha256 and size", list[0].Hint)
	require.NoError(t, m.RequireLocked(m.Models[2:]))
}
