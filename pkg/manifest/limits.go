package manifest

import (
	"bytes"
	"fmt"
)

// Limits that keep a hostile manifest from costing more than a few megabytes
// or from reaching code that does arithmetic on its numbers. A real manifest
// is a few kilobytes, nests three levels and declares sizes of gigabytes.
const (
	// MaxManifestSize is the largest manifest read, in bytes (1 MiB).
	MaxManifestSize = 1 << 20
	// MaxNesting is the deepest nesting of arrays, inline tables and table
	// headers' brackets allowed (a manifest needs 2).
	MaxNesting = 32
	// MaxErrors is how many problems are listed; the rest are counted in a
	// last "and N more problems" line.
	MaxErrors = 20
	// MaxSize is the largest size a manifest may declare (1 TiB): larger
	// is a typo, and far from the edges of int64 arithmetic.
	MaxSize = 1 << 40
	// MaxNameLen is the longest file name (last path component) a model may
	// install to, in bytes: what filesystems allow. The temp file beside it
	// fits too: internal/fsutil.TempName shortens its copy of the name.
	MaxNameLen = 255
	// MaxComponentLen is the longest folder name in a path, in bytes.
	MaxComponentLen = 255
	// maxPathLen bounds a model's path below its root: with the root, it
	// must fit Linux's PATH_MAX of 4096.
	maxPathLen = 1024
)

// NestingError is the error for a TOML text whose arrays and tables nest
// deeper than MaxNesting, or nil: checked before any TOML parser, whose cost
// grows with nesting (a 40 KB file of nested inline tables made the decoder
// take 1.5 GiB). The url rules file is held to it too.
func NestingError(file string, src []byte) *Error {
	if line := checkNesting(src); line > 0 {
		return &Error{File: file, Line: line, Msg: fmt.Sprintf("arrays and tables nest more than %d deep", MaxNesting)}
	}
	return nil
}

// checkNesting scans src for brackets and braces outside strings and
// comments, and returns the line where they first nest deeper than
// MaxNesting (0 if they never do).
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
			if depth > 0 {
				depth--
			}
		}
	}
	return 0
}

// skipString returns the offset of the last byte of the string that opens
// at src[i], and the line it ends on. It is lenient: an unterminated string
// ends at the end of its line (single-line) or of the text (multi-line).
func skipString(src []byte, i, line int) (int, int) {
	q := src[i]
	triple := []byte{q, q, q}
	if bytes.HasPrefix(src[i:], triple) {
		for j := i + 3; j < len(src); j++ {
			switch {
			case src[j] == '\n':
				line++
			case src[j] == '\\' && q == '"':
				if j+1 < len(src) && src[j+1] == '\n' {
					line++
				}
				j++
			case bytes.HasPrefix(src[j:], triple):
				j += 2
				for k := 0; k < 2 && j+1 < len(src) && src[j+1] == q; k++ {
					j++ // up to two quotes may end the content
				}
				return j, line
			}
		}
		return len(src), line
	}
	for j := i + 1; j < len(src); j++ {
		switch {
		case src[j] == '\n':
			return j - 1, line
		case src[j] == '\\' && q == '"':
			j++
		case src[j] == q:
			return j, line
		}
	}
	return len(src), line
}

// checkSize refuses a size a manifest declares that is negative or absurd.
func checkSize(n int64) error {
	switch {
	case n < 0:
		return fmt.Errorf("must not be negative")
	case n > MaxSize:
		return fmt.Errorf("%d bytes is more than the %d (1 TiB) a manifest may declare", n, int64(MaxSize))
	}
	return nil
}
