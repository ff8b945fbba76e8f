package lock

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/oci"
)

// registry is a registry whose tags name manifests: lock's Resolver reads
// the tag, a probe reads the source's pin, as Fetcher does.
type registry struct {
	now   map[string]string // tag key -> the digest it names now
	files map[string]fetch.Probe
	seen  []string // what each probe read
}

func (r *registry) Resolve(_ context.Context, ref *manifest.Ref) (string, error) {
	return r.now[ref.Key()], nil
}

func (r *registry) Probe(_ context.Context, _ *manifest.Model, src *manifest.Source, _ int64) (fetch.Probe, error) {
	r.seen = append(r.seen, src.Ref.Pin)
	p := r.files[src.Ref.Pin]
	p.Source = src.URL
	return p, nil
}

const (
	ociSrc = "oci://ghcr.io/acme/m:v1#m.bin"
	ociKey = "oci://ghcr.io/acme/m:v1"
)

var (
	d1 = "sha256:" + strings.Repeat("1", 64)
	d2 = "sha256:" + strings.Repeat("2", 64)
)

func ociManifest(t *testing.T, pins string) *manifest.Manifest {
	text := fmt.Sprintf("version = 1\n[models.m]\npath = \"m\"\nurls = [%q]\n", ociSrc)
	if pins != "" {
		text = fmt.Sprintf("version = 1\n[models.m]\npath = \"m\"\nsha256 = %q\nsize = 4\nurls = [%q]\npins = %s\n", good.Installed, ociSrc, pins)
	}
	return parse(t, text)
}

func TestOCIPins(t *testing.T) {
	reg := &registry{now: map[string]string{ociKey: d1}, files: map[string]fetch.Probe{d1: good, d2: other}}
	res := Resolvers{manifest.SchemeOCI: reg}
	ctx := context.Background()

	// No pin: the tag is resolved, pinned, and what it names probed.
	m := ociManifest(t, "")
	rep, err := Run(ctx, reg, m.Models, Options{Resolver: res})
	require.NoError(t, err)
	require.Len(t, rep.Edits, 3)
	assert.Contains(t, rep.Edits, manifest.Edit{Model: "m", Source: -1, Key: manifest.KeyPins, Value: manifest.Pins{{Key: ociKey, Value: d1}}})
	assert.Equal(t, []string{d1}, reg.seen)

	// The tag moves: a locked model reads its pin and nothing changes.
	reg.now[ociKey], reg.seen = d2, nil
	m = ociManifest(t, fmt.Sprintf("{ %q = %q }", ociKey, d1))
	rep, err = Run(ctx, reg, m.Models, Options{Resolver: res, Named: map[string]bool{"m": true}})
	require.NoError(t, err)
	assert.Empty(t, rep.Edits)
	assert.Equal(t, []string{d1}, reg.seen)

	// --update=m resolves the tag again: the pin moves, the hashes with it.
	rep, err = Run(ctx, reg, m.Models, Options{Resolver: res, Named: map[string]bool{"m": true}, Update: map[string]bool{"m": true}})
	require.NoError(t, err)
	assert.Equal(t, d2, reg.seen[1])
	assert.Contains(t, rep.Edits, manifest.Edit{Model: "m", Source: -1, Key: manifest.KeyPins, Value: manifest.Pins{{Key: ociKey, Value: d2}}})
	assert.Contains(t, fmt.Sprint(rep.Findings), "serves pin "+d2+", the manifest records "+d1)
}

func TestResolversByScheme(t *testing.T) {
	res := Resolvers{manifest.SchemeOCI: ResolverFunc(func(context.Context, *manifest.Ref) (string, error) { return d1, nil })}
	got, err := res.Resolve(context.Background(), &manifest.Ref{Scheme: manifest.SchemeOCI})
	require.NoError(t, err)
	assert.Equal(t, d1, got)
	_, err = res.Resolve(context.Background(), &manifest.Ref{Scheme: manifest.SchemeOCIHTTP})
	assert.EqualError(t, err, "oci+http:// references cannot be pinned by this build")
}

func TestIndexIsAReferenceError(t *testing.T) {
	idx := &oci.IndexError{Total: 2}
	rep := &Report{Findings: []Finding{
		{Model: "a", Kind: Unreachable, Err: &fetch.SourceError{Err: fmt.Errorf("x")}},
		{Model: "b", Kind: Unreachable, Err: &fetch.SourceError{Err: idx}},
		{Model: "c", Kind: Unreachable, Err: &fetch.SourceError{Err: fmt.Errorf("y")}},
	}}
	assert.Equal(t, OutcomeReference, rep.Outcome())
	assert.True(t, BadReference(&fetch.SourceError{Err: idx}))
	assert.False(t, BadReference(fmt.Errorf("x")))
}
