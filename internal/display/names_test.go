package display

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A lock of thousands of models names a few on its one line, and counts the rest.
func TestNameListShortensLongLists(t *testing.T) {
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("m%d", i)
		}
		return out
	}
	assert.Equal(t, "m0", NameList(names(1)))
	assert.Equal(t, "m0, m1, m2, m3, m4, m5, m6, m7, m8, m9", NameList(names(10)))
	assert.Equal(t, "m0, m1, m2 … and 8 more", NameList(names(11)))
	assert.Equal(t, "m0, m1, m2 … and 4,997 more", NameList(names(5000)))
	assert.Equal(t, "m0, m1, m2 … and 1,234,567 more", NameList(names(1234570)))
}
