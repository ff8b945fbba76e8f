package lock

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/oci"
)

// broken fails every probe with err as an integrity failure of the source.
type broken struct{ err error }

func (b broken) Probe(_ context.Context, _ *manifest.Model, src *manifest.Source, _ int64) (fetch.Probe, error) {
	return fetch.Probe{Source: src.URL}, &fetch.SourceError{Source: src.URL, Kind: fetch.KindIntegrity, Err: b.err}
}

// TestRunSourceIntegrityIsExit3: a source whose bytes contradict
// themselves (a registry artifact with two layers claiming one path, a
// layer that is not its digest) is an integrity outcome, as fetch reports
// it, not an unreachable source.
func TestRunSourceIntegrityIsExit3(t *testing.T) {
	m := parse(t, "version = 1\n[models.a]\npath = \"a\"\nurls = [\"https://one/a\"]\n")
	for _, err := range []error{
		&oci.IntegrityError{Reason: `layers sha256:1 and sha256:2 both claim "a"`, Artifact: true},
		&oci.IntegrityError{Reason: "the layer sha256:1 is not a valid tar archive", Artifact: true},
	} {
		rep, rerr := Run(context.Background(), broken{err}, m.Models, Options{})
		require.NoError(t, rerr)
		require.Len(t, rep.Findings, 1)
		assert.Equal(t, "a: https://one/a: "+err.Error(), rep.Findings[0].String())
		assert.Equal(t, OutcomeIntegrity, rep.Outcome(), err.Error())
		assert.Empty(t, rep.Edits)
	}
}
