package manifest

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/djok/modelfetch/internal/safetext"
)

// Error is one manifest problem, tied to a line.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key path, when there is one
	Msg  string
	Hint string // a next step for the user, or ""
}

// Error is one line: the file's own text it echoes (a key, a value) has its
// control characters escaped, so it cannot act on a terminal.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return safetext.Escape(b.String())
}

// ErrorList is every problem found in a manifest (at most MaxErrors of them,
// then one line that counts the rest); Error joins them with newlines.
type ErrorList []*Error

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// errorList collects a manifest's problems up to MaxErrors.
type errorList struct {
	file string
	errs ErrorList
	more int
}

func (l *errorList) add(e *Error) {
	if len(l.errs) < MaxErrors {
		l.errs = append(l.errs, e)
		return
	}
	l.more++
}

// err returns the list (nil when empty), with a last line counting what was
// left out.
func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	if l.more > 0 {
		return append(l.errs, &Error{File: l.file, Msg: fmt.Sprintf("and %d more problems", l.more)})
	}
	return l.errs
}

// decodeErrLine matches the decoder's type errors, which carry their line in
// the text rather than as a toml.ParseError.
var decodeErrLine = regexp.MustCompile(`^toml: line (\d+) \(last key "(?:[^"\\]|\\.)*"\): `)

// DecodeError turns an error of BurntSushi/toml's decoder into an Error
// with the line it names: for the manifest and the other TOML files
// modelfetch reads (the url rules).
func DecodeError(file string, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if msg == "" {
			msg = pe.Error()
		}
		return &Error{File: file, Line: pe.Position.Line, Msg: "toml: " + Tidy(msg)}
	}
	msg := err.Error()
	line := 0
	if m := decodeErrLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	return &Error{File: file, Line: line, Msg: "toml: " + Tidy(strings.TrimPrefix(msg, "toml: "))}
}

// Tidy makes a library message fit our error style: one line, lower case
// start, no trailing period.
func Tidy(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimSuffix(s, ".")
	if len(s) > 1 && s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z') {
		s = string(s[0]+'a'-'A') + s[1:]
	}
	return s
}

func unwrapPathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}
