package hints

import (
	"errors"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
)

func failed(name string, kind fetch.Kind, sources ...*fetch.SourceError) fetch.Result {
	return fetch.Result{Name: name, Status: fetch.StatusFailed, Err: &fetch.Error{Artifact: name, Kind: kind, Sources: sources}}
}

// Wrong bytes from a mirror alone blame the mirror; from the origin, the
// manifest (a lock --update of those models); an offline miss, the cache.
func TestSources(t *testing.T) {
	bad := errors.New("sha256 mismatch")
	results := []fetch.Result{
		failed("a", fetch.KindIntegrity, &fetch.SourceError{Source: "https://m/a", Kind: fetch.KindIntegrity, Err: bad, Mirror: "https://m/{sha256}"}),
		failed("b", fetch.KindIntegrity, &fetch.SourceError{Source: "https://h/b", Kind: fetch.KindIntegrity, Err: bad}),
		failed("c", fetch.KindNetwork, &fetch.SourceError{Source: "https://h/c", Kind: fetch.KindNetwork, Err: errors.New("offline: not in the cache")}),
		{Name: "d", Status: fetch.StatusInstalled},
	}
	got := Sources(results, Run{Manifest: "my models.toml", ManifestArgs: []string{"-m", "my models.toml"}})
	assert.Equal(t, []string{
		"the mirror https://m/{sha256} serves other bytes than the manifest records for a: remove them from it, or leave the mirror out",
		"no source served the bytes the manifest records for b; if the model changed upstream on purpose, run `modelfetch lock -m 'my models.toml' --update=b` and review the diff",
		"run `modelfetch cache warm -m 'my models.toml' --only c` with network access first, or drop --offline",
	}, got)
	assert.Empty(t, Sources(results[3:], Run{}))
}

func TestVerifyAndInstallFirst(t *testing.T) {
	run := Run{Out: "/o", Dirs: []string{"u=/u"}, Only: []string{"x"}}
	results := []fetch.Result{failed("x", fetch.KindIntegrity, &fetch.SourceError{Source: "/o/x", Kind: fetch.KindIntegrity, Err: errors.New("changed")})}
	assert.Equal(t, []string{"run `modelfetch fetch --out /o --dir u=/u --only x` to reinstall what was changed or removed"}, Verify(results, run))
	assert.Nil(t, Verify(nil, run))
	assert.Equal(t, "run `modelfetch --cache /c --out /o --dir u=/u --only x` (or `modelfetch cache warm --cache /c --only x`) first", InstallFirst(run, "/c"))
}

func TestLock(t *testing.T) {
	findings := []lock.Finding{
		{Model: "a", Kind: lock.Changed, Kept: true},
		{Model: "b", Kind: lock.Disagrees},
		{Model: "c", Kind: lock.Incomplete},
	}
	got := Lock(findings, Run{Manifest: "models.toml"})
	assert.Equal(t, []string{
		"a changed upstream; if that is expected, run `modelfetch lock --update=a` and review the diff",
		"the sources of b serve different bytes: remove the bad mirror from models.toml, or run `modelfetch lock --first-source b` to record what the first working source serves",
		"run `modelfetch lock` to record the missing values",
	}, got)
}

func TestNearestFlags(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Bool("offline", false, "")
	fs.Bool("output", false, "")
	fs.Bool("secret", false, "")
	_ = fs.MarkHidden("secret")
	assert.Equal(t, []string{"--offline"}, NearestFlags(fs, "ofline"))
	assert.Equal(t, []string{"--output"}, NearestFlags(fs, "out"), "a prefix of three letters is one edit away")
	assert.Empty(t, NearestFlags(fs, "secrte"), "a hidden flag is never suggested")
	assert.Empty(t, NearestFlags(fs, "zzzzzz"))
}
