//go:build unix

package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testutil"
)

// A rules path that leads to a FIFO is refused at once: a blocking open
// would wait for a writer forever (issue 26).
func TestLoadFIFO(t *testing.T) {
	fifo := testutil.FIFO(t, "rules.toml")
	var err error
	testutil.Within(t, 2*time.Second, func() { _, err = Load(fifo) })
	require.ErrorContains(t, err, "not a regular file")
}
