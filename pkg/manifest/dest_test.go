package manifest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckDestinations(t *testing.T) {
	tmp := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(tmp, "real"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(tmp, "real"), filepath.Join(tmp, "link")))
	two := func(dirs string) string {
		return "version = 1\n[dirs]\n" + dirs + "\n[models.a]\npath = \"m/a.bin\"\nurls = [\"https://h/a\"]\n" +
			"[models.b]\ndir = \"u2net\"\npath = \"a.bin\"\nurls = [\"https://h/b\"]\n"
	}
	for _, tc := range []struct {
		name    string
		src     string
		set     map[string]string // SetDir after parsing
		wantErr string
	}{
		{name: "distinct roots", src: two("models = \"" + tmp + "/x\"\nu2net = \"" + tmp + "/y\"")},
		{name: "two names for one folder", src: two("models = \"" + tmp + "/x\"\nu2net = \"" + tmp + "/x/m\""),
			wantErr: "m.toml:8: models.b: installs to " + tmp + "/x/m/a.bin, as model \"a\" does"},
		{name: "one folder through a symlink", src: two("models = \"" + tmp + "/real\"\nu2net = \"" + tmp + "/link/m/\""),
			wantErr: "m.toml:8: models.b: installs to " + tmp + "/real/m/a.bin, as model \"a\" does"},
		{name: "--out and --dir at one place", src: two("models = \"" + tmp + "/x\"\nu2net = \"" + tmp + "/y\""),
			set:     map[string]string{"models": tmp + "/z", "u2net": tmp + "/z/m"},
			wantErr: "m.toml:8: models.b: installs to " + tmp + "/z/m/a.bin, as model \"a\" does"},
		{name: "a file inside another's file (nested roots)", src: two("models = \"" + tmp + "/x\"\nu2net = \"" + tmp + "/x/m/a.bin/deeper\""),
			wantErr: "m.toml:8: models.b: installs to " + tmp + "/x/m/a.bin/deeper/a.bin, inside the file model \"a\" installs to"},
		{name: "nested roots, distinct files", src: two("models = \"" + tmp + "/x\"\nu2net = \"" + tmp + "/x/sub\"")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse("m.toml", "/", []byte(tc.src))
			require.NoError(t, err)
			for n, d := range tc.set {
				require.NoError(t, m.SetDir(n, d))
			}
			err = m.CheckDestinations()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			var list ErrorList
			require.ErrorAs(t, err, &list)
			assert.Equal(t, tc.wantErr, list.Error())
		})
	}
}
