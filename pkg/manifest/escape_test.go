package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A key or value holding control characters is echoed escaped: the error
// cannot clear the terminal or hide what came before it (found by the
// attack run: models.x^[[2Jy printed raw).
func TestErrorsEscapeControlCharacters(t *testing.T) {
	src := "version = 1\n[models.\"x\\u001b[2Jy\"]\npath = \"a\\r\"\nurls = [\"https://h/a\\u001b]0;pwned\\u0007\"]\n"
	_, err := Parse("m.toml", ".", []byte(src))
	require.Error(t, err)
	msg := err.Error()
	assert.NotContains(t, msg, "\x1b")
	assert.NotContains(t, msg, "\x07")
	assert.NotContains(t, msg, "\r")
	assert.Contains(t, msg, `models.x\x1b[2Jy`)
	for _, line := range strings.Split(msg, "\n") {
		assert.True(t, strings.HasPrefix(line, "m.toml:"), "%q", line)
	}
}
