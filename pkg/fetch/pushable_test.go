package fetch

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/djok/modelfetch/pkg/manifest"
)

// What --mirror-push pushes: the models in place after the run, in target
// order; the others are counted.
func TestPushable(t *testing.T) {
	var targets []Target
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		targets = append(targets, Target{Model: &manifest.Model{Name: n}, Root: "/r"})
	}
	results := []Result{{Name: "e", Status: StatusUpToDate}, {Name: "a", Status: StatusInstalled},
		{Name: "b", Status: StatusFailed}, {Name: "c", Status: StatusFromCache}}
	files, left := Pushable(targets, results)
	var names []string
	for _, f := range files {
		names = append(names, f.Model.Name)
		assert.Equal(t, "/r", f.Root)
	}
	assert.Equal(t, []string{"a", "c", "e"}, names)
	assert.Equal(t, 2, left, "b failed, d has no result")
}
