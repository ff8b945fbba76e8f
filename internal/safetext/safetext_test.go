package safetext

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"models.x\x1b[2Jy":          `models.x\x1b[2Jy`,
		"a\r\nb":                    `a\r\nb`,
		"tab\tkept, été, 模型":        "tab\tkept, été, 模型",
		"\x00\x07\x7f":              `\x00\x07\x7f`,
		"csi \u009b2J":              `csi \u009b2J`,
		"bidi \u202egnp.exe":        `bidi \u202egnp.exe`,
		"bad \xff utf-8":            `bad \xff utf-8`,
		`a backslash \x1b as typed`: `a backslash \x1b as typed`,
	} {
		assert.Equal(t, want, Escape(in), "%q", in)
	}
}
