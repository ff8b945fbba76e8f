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

// tags is a registry whose tags name manifests: a probe reads the pin when
// the source has one, else the tag, as Fetcher.Probe does.
type tags struct {
	now   map[string]string // tag key -> digest it names now
	files map[string]fetch.Probe
	seen  []string // what each probe read
}

func (r *tags) Probe(_ context.Context, _ *manifest.Model, src *manifest.Source, _ int64) (fetch.Probe, error) {
	target := src.Ref.Pin
	if target == "" {
		target = r.now[src.Ref.Key()]
	}
	r.seen = append(r.seen, target)
	p := r.files[target]
	p.Source, p.Pin = src.URL, manifest.Pin{Key: src.Ref.Key(), Value: target}
	return p, nil
}

const (
	src1 = "oci://ghcr.io/acme/m:v1#m.bin"
	key1 = "oci://ghcr.io/acme/m:v1"
)

var (
	d1 = "sha256:" + strings.Repeat("1", 64)
	d2 = "sha256:" + strings.Repeat("2", 64)
)

func pinned(t *testing.T, pins string) *manifest.Manifest {
	text := fmt.Sprintf("version = 1\n[models.m]\npath = \"m\"\nurls = [%q]\n", src1)
	if pins != "" {
		text = fmt.Sprintf("version = 1\n[models.m]\npath = \"m\"\nsha256 = %q\nsize = 4\nurls = [%q]\npins = %s\n", good.Installed, src1, pins)
	}
	return parse(t, text)
}

func TestPins(t *testing.T) {
	reg := &tags{now: map[string]string{key1: d1}, files: map[string]fetch.Probe{d1: good, d2: other}}
	ctx := context.Background()

	// No pin: the tag is read, and its digest pinned with the hashes.
	m := pinned(t, "")
	rep, err := Run(ctx, reg, m.Models, Options{})
	require.NoError(t, err)
	require.Len(t, rep.Edits, 3)
	assert.Equal(t, manifest.Edit{Model: "m", Source: -1, Key: manifest.KeyPins, Value: manifest.Pins{{Key: key1, Value: d1}}}, rep.Edits[2])

	// --check: a moving source without a pin is incomplete (exit 4).
	rep, err = Run(ctx, reg, m.Models, Options{Check: true})
	require.NoError(t, err)
	assert.Equal(t, "incomplete", rep.ExitKind())
	assert.Contains(t, fmt.Sprint(rep.Findings), "m: oci://ghcr.io/acme/m:v1: no pin recorded")

	// The tag moves: a locked model reads its pin and nothing changes.
	reg.now[key1], reg.seen = d2, nil
	m = pinned(t, fmt.Sprintf("{ %q = %q }", key1, d1))
	rep, err = Run(ctx, reg, m.Models, Options{Named: map[string]bool{"m": true}})
	require.NoError(t, err)
	assert.Empty(t, rep.Edits)
	assert.Equal(t, []string{d1}, reg.seen)

	// --update=m reads the tag again: the pin moves, and the hashes with it.
	rep, err = Run(ctx, reg, m.Models, Options{Named: map[string]bool{"m": true}, Update: map[string]bool{"m": true}})
	require.NoError(t, err)
	assert.Equal(t, d2, reg.seen[1])
	require.Len(t, rep.Edits, 3)
	assert.Equal(t, manifest.Pins{{Key: key1, Value: d2}}, rep.Edits[2].Value)
	assert.Contains(t, fmt.Sprint(rep.Findings), "names "+d2+" now, the manifest pins "+d1+" (updated)")
}

func TestIndexIsAReferenceError(t *testing.T) {
	idx := &oci.IndexError{Total: 2}
	rep := &Report{Findings: []Finding{
		{Model: "a", Kind: Unreachable, Err: &fetch.SourceError{Err: fmt.Errorf("x")}},
		{Model: "b", Kind: Unreachable, Err: &fetch.SourceError{Err: idx}},
		{Model: "c", Kind: Unreachable, Err: &fetch.SourceError{Err: fmt.Errorf("y")}},
	}}
	assert.Equal(t, "reference", rep.ExitKind())
	assert.True(t, BadReference(&fetch.SourceError{Err: idx}))
}
