package rules

import "bytes"

// MaxNesting bounds how deep arrays and tables nest (as the manifest's).
const MaxNesting = 32

// checkNesting returns the line where brackets and braces outside strings
// and comments first nest deeper than MaxNesting, or 0. It runs before the
// TOML parsers, whose cost grows with nesting (pkg/manifest/limits.go has
// the same guard and the measurement behind it).
func checkNesting(src []byte) int {
	depth, line := 0, 1
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '\n':
			line++
		case '#':
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			i, line = skipString(src, i, line)
		case '[', '{':
			if depth++; depth > MaxNesting {
				return line
			}
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	return 0
}

// skipString returns the offset of the last byte of the string that opens
// at src[i], and the line it ends on; an unterminated string ends at the
// end of its line (single-line) or of the text (multi-line).
func skipString(src []byte, i, line int) (int, int) {
	q := src[i]
	triple := []byte{q, q, q}
	multi := bytes.HasPrefix(src[i:], triple)
	if multi {
		i += 2
	}
	for j := i + 1; j < len(src); j++ {
		switch {
		case src[j] == '\n' && !multi:
			return j - 1, line
		case src[j] == '\n':
			line++
		case src[j] == '\\' && q == '"':
			if j+1 < len(src) && src[j+1] == '\n' {
				line++
			}
			j++
		case multi && bytes.HasPrefix(src[j:], triple):
			j += 2
			for k := 0; k < 2 && j+1 < len(src) && src[j+1] == q; k++ {
				j++ // up to two quotes may end the content
			}
			return j, line
		case !multi && src[j] == q:
			return j, line
		}
	}
	return len(src), line
}
