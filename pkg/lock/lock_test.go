package lock

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

// fake serves fixed probes by URL, and fails as Fetcher.Probe does when a
// probe has more bytes than its limit.
type fake map[string]fetch.Probe

func (f fake) Probe(_ context.Context, _ *manifest.Model, src *manifest.Source, limit int64) (fetch.Probe, error) {
	p, ok := f[src.URL]
	if !ok {
		return fetch.Probe{Source: src.URL}, &fetch.SourceError{Source: src.URL, Kind: fetch.KindNetwork, Err: errors.New("http 404 not found")}
	}
	if p.InstalledSize > limit {
		err := &digest.SizeError{Got: limit + 1, Want: limit, Over: true}
		return fetch.Probe{Source: src.URL}, &fetch.SourceError{Source: src.URL, Kind: fetch.KindIntegrity, Err: err}
	}
	p.Source = src.URL
	return p, nil
}

// limits records the limit of each probe.
type limits struct {
	fake
	got []int64
}

func (l *limits) Probe(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (fetch.Probe, error) {
	l.got = append(l.got, limit)
	return l.fake.Probe(ctx, m, src, limit)
}

var (
	good  = fetch.Probe{Installed: digest.Of([]byte("good")), InstalledSize: 4, Served: digest.Of([]byte("good.gz")), ServedSize: 7}
	other = fetch.Probe{Installed: digest.Of([]byte("other")), InstalledSize: 5, Served: digest.Of([]byte("other")), ServedSize: 5}
)

func parse(t *testing.T, src string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("m.toml", "/", []byte(src))
	require.NoError(t, err)
	return m
}

func TestRun(t *testing.T) {
	unlocked := "version = 1\n[models.a]\npath = \"a\"\nurls = [\"https://one/a\", \"https://two/a\"]\n"
	locked := "version = 1\n[models.a]\npath = \"a\"\nsha256 = \"" + good.Installed.String() + "\"\nsize = 4\nurls = [\"https://one/a\", \"https://two/a\"]\n"
	for _, tc := range []struct {
		name      string
		src       string
		probes    fake
		opts      Options
		wantEdits int
		wantExit  Outcome
	}{
		{name: "fresh, sources agree", src: unlocked, probes: fake{"https://one/a": good, "https://two/a": good}, wantEdits: 2},
		{name: "fresh, mirror disagrees", src: unlocked, probes: fake{"https://one/a": good, "https://two/a": other}, wantExit: OutcomeIntegrity},
		{name: "fresh, first source only", src: unlocked, probes: fake{"https://one/a": good, "https://two/a": other}, opts: Options{FirstSource: true}, wantEdits: 2},
		{name: "fresh, a mirror is down", src: unlocked, probes: fake{"https://one/a": good}, wantEdits: 2, wantExit: OutcomeUnreachable},
		{name: "complete and not named: skipped", src: locked, probes: fake{}},
		{name: "named, still good", src: locked, probes: fake{"https://one/a": good, "https://two/a": good}, opts: Options{Named: map[string]bool{"a": true}}},
		{name: "named, changed upstream", src: locked, probes: fake{"https://one/a": other, "https://two/a": other}, opts: Options{Named: map[string]bool{"a": true}}, wantExit: OutcomeIntegrity},
		{name: "named, changed, update", src: locked, probes: fake{"https://one/a": other, "https://two/a": other}, opts: Options{Named: map[string]bool{"a": true}, Update: map[string]bool{"a": true}}, wantEdits: 2},
		{name: "check, unlocked", src: unlocked, probes: fake{}, opts: Options{Check: true}, wantExit: OutcomeIncomplete},
		{name: "check, good", src: locked, probes: fake{"https://one/a": good, "https://two/a": good}, opts: Options{Check: true}},
		{name: "check, sha256 but no size", src: strings.Replace(locked, "size = 4\n", "", 1), probes: fake{}, opts: Options{Check: true}, wantExit: OutcomeIncomplete},
		{name: "named, grew past its recorded size", src: strings.Replace(locked, "size = 4", "size = 3", 1), probes: fake{"https://one/a": good, "https://two/a": good}, opts: Options{Named: map[string]bool{"a": true}}, wantExit: OutcomeIntegrity},
		{name: "fresh, larger than --max-size", src: unlocked, probes: fake{"https://one/a": good, "https://two/a": good}, opts: Options{MaxSize: 3}, wantExit: OutcomeIntegrity},
		{name: "fresh, one mirror larger than --max-size", src: unlocked, probes: fake{"https://one/a": good, "https://two/a": other}, opts: Options{MaxSize: 4}, wantExit: OutcomeIntegrity},
		{name: "check, changed", src: locked, probes: fake{"https://one/a": other, "https://two/a": other}, opts: Options{Check: true}, wantExit: OutcomeIntegrity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := parse(t, tc.src)
			rep, err := Run(context.Background(), tc.probes, m.Models, tc.opts)
			require.NoError(t, err)
			assert.Len(t, rep.Edits, tc.wantEdits)
			assert.Equal(t, tc.wantExit, rep.Outcome(), "%v", rep.Findings)
		})
	}
}

func TestProbesAreBounded(t *testing.T) {
	sha := good.Installed.String()
	for _, tc := range []struct {
		name string
		src  string
		opts Options
		want int64
		find string
	}{
		{name: "recorded size", src: "size = 4\nsha256 = \"" + sha + "\"\n", opts: Options{Named: map[string]bool{"a": true}}, want: 4},
		{name: "no size: the default", src: "", want: DefaultMaxSize},
		{name: "no size: --max-size", src: "", opts: Options{MaxSize: 3}, want: 3,
			find: "a: https://one/a: serves more than 3 bytes (--max-size); nothing recorded"},
		{name: "size without sha256 vouches for nothing", src: "size = 1\n", opts: Options{MaxSize: 10}, want: 10},
		{name: "updating: the size may grow", src: "size = 2\nsha256 = \"" + sha + "\"\n", opts: Options{UpdateAll: true, Named: map[string]bool{"a": true}, MaxSize: 10}, want: 10},
		{name: "recorded size too small", src: "size = 3\nsha256 = \"" + sha + "\"\n", opts: Options{Named: map[string]bool{"a": true}}, want: 3,
			find: "a: https://one/a: serves more than the 3 bytes the manifest records as its size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := parse(t, "version = 1\n[models.a]\npath = \"a\"\n"+tc.src+"urls = [\"https://one/a\"]\n")
			p := &limits{fake: fake{"https://one/a": good}}
			rep, err := Run(context.Background(), p, m.Models, tc.opts)
			require.NoError(t, err)
			assert.Equal(t, []int64{tc.want}, p.got)
			if tc.find != "" {
				require.Len(t, rep.Findings, 1)
				assert.Equal(t, tc.find, rep.Findings[0].String())
				assert.Empty(t, rep.Edits)
			}
		})
	}
}

func TestServedDigestsOfTableSources(t *testing.T) {
	m := parse(t, "version = 1\n[models.a]\npath = \"a\"\n[[models.a.sources]]\nurl = \"https://one/a.gz\"\n")
	rep, err := Run(context.Background(), fake{"https://one/a.gz": good}, m.Models, Options{})
	require.NoError(t, err)
	assert.ElementsMatch(t, []manifest.Edit{
		{Model: "a", Source: -1, Key: "sha256", Value: good.Installed.String()},
		{Model: "a", Source: -1, Key: "size", Value: int64(4)},
		{Model: "a", Source: 0, Key: "sha256", Value: good.Served.String()},
		{Model: "a", Source: 0, Key: "size", Value: int64(7)},
	}, rep.Edits)
}

// Select: the names and the models to update are asked for; without them
// every model is selected, none asked for.
func TestSelect(t *testing.T) {
	m := parse(t, "version = 1\n[models.a]\npath = \"a\"\nurls = [\"https://one/a\"]\n[models.b]\npath = \"b\"\nurls = [\"https://one/b\"]\n")
	names := func(ms []*manifest.Model) (out []string) {
		for _, x := range ms {
			out = append(out, x.Name)
		}
		return out
	}
	ms, o, err := Select(m, nil, nil, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, names(ms))
	assert.Equal(t, map[string]bool{"a": false, "b": false}, o.Named)

	ms, o, err = Select(m, []string{"a"}, []string{"b"}, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, names(ms))
	assert.Equal(t, map[string]bool{"a": true, "b": true}, o.Named)
	assert.Equal(t, map[string]bool{"b": true}, o.Update)

	_, o, err = Select(m, nil, nil, true)
	require.NoError(t, err)
	assert.True(t, o.UpdateAll && o.Named["a"] && o.Named["b"])

	_, _, err = Select(m, nil, []string{"nope"}, false)
	assert.EqualError(t, err, "nope: no model of that name in m.toml")
	_, _, err = Select(m, []string{"nope"}, nil, false)
	assert.ErrorContains(t, err, `no model named "nope"`)
}
