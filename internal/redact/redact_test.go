package redact

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"https://h.example/a/b.pth":                   "https://h.example/a/b.pth",
		"https://user:secret@h.example/a":             "https://xxxxx@h.example/a",
		"https://h.example/a?X-Amz-Signature=abc&b=1": "https://h.example/a?REDACTED",
		"https://tok@h.example/a?sig=1#frag":          "https://xxxxx@h.example/a?REDACTED",
		"file:///models/x.bin":                        "file:///models/x.bin",
		"https://u:p@h.example/%zz?sig=secret":        "https://xxxxx@h.example/%zz?REDACTED",
	} {
		got := String(in)
		assert.Equal(t, want, got, in)
		assert.NotContains(t, got, "secret")
	}
}
