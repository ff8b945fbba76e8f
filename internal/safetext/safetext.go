// Package safetext makes text from a manifest, a rules file or a server safe
// to print on a terminal: a control character (an escape sequence that
// clears the screen, a carriage return that hides what came before), a byte
// that is not UTF-8 and a character that reorders the text around it are
// shown as escapes (\x1b, \r, \u202e) instead of acting.
package safetext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every character that could act on a terminal
// written as an escape. A tab is kept. Text without one is returned as is.
func Escape(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 && r != '\t' || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c >= 0x7f {
			return false
		}
	}
	return true
}

// unsafe: the C1 controls (U+0080–U+009F, CSI among them) and the
// characters that reorder text (bidirectional marks and overrides).
func unsafe(r rune) bool {
	return r >= 0x80 && r <= 0x9f || r == 0x200e || r == 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}
