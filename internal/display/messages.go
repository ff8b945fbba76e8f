// Package display is the terminal output of modelfetch: the messages and
// hints (this file), the live progress (progress.go, bars.go; probes.go for
// lock's reads), the summary table (summary.go), the --json documents
// (json.go, push.go), the cache tables (cache.go), and --dry-run's URLs
// (dryrun.go).
//
// Output rules (this file, progress.go for live progress, internal/hints for
// next steps): progress and messages go to stderr, the --json document alone goes
// to stdout. Messages are one line each, lower case, with no trailing period:
// "modelfetch: error: ..." followed by "modelfetch: hint: ..." lines where a
// next step exists. URLs are redacted (user info and query strings) before
// they get here. Package display prints; the pkg/ packages never import it.
package display

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/djok/modelfetch/internal/safetext"
	"github.com/djok/modelfetch/pkg/manifest"
)

// UI prints the one-line messages on stderr.
type UI struct {
	Stderr io.Writer
}

// Errorf prints an error line.
func (u *UI) Errorf(format string, args ...any) {
	fmt.Fprint(u.Stderr, "modelfetch: error: "+safetext.Escape(fmt.Sprintf(format, args...))+"\n")
}

// Hintf prints a next step.
func (u *UI) Hintf(format string, args ...any) {
	fmt.Fprint(u.Stderr, "modelfetch: hint: "+safetext.Escape(fmt.Sprintf(format, args...))+"\n")
}

// Warnf prints something that failed without failing the run.
func (u *UI) Warnf(format string, args ...any) {
	fmt.Fprint(u.Stderr, "modelfetch: warning: "+safetext.Escape(fmt.Sprintf(format, args...))+"\n")
}

// Infof prints a message that is not an error, unless quiet.
func (u *UI) Infof(quiet bool, format string, args ...any) {
	if !quiet {
		fmt.Fprint(u.Stderr, "modelfetch: "+safetext.Escape(fmt.Sprintf(format, args...))+"\n")
	}
}

// NextStep is an error that says what to do next: Problems gives the step
// as the hint of the error's last line.
type NextStep interface {
	error
	NextStep() string
}

// Problem is one line of a command's error, with where it is and what to do.
type Problem struct {
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Key     string `json:"key,omitempty"`
	Hint    string `json:"hint,omitempty"`
}

// Problems splits a command's error into its lines.
func Problems(err error) []Problem {
	var ml manifest.ErrorList
	var me *manifest.Error
	var h NextStep
	fromManifest := func(e *manifest.Error) Problem {
		return Problem{Message: e.Error(), File: e.File, Line: e.Line, Key: e.Key, Hint: e.Hint}
	}
	switch {
	case errors.As(err, &ml):
		out := make([]Problem, len(ml))
		for i, e := range ml {
			out[i] = fromManifest(e)
		}
		// In file order; a line without a place ("and N more") stays last.
		sort.SliceStable(out, func(i, j int) bool {
			li, lj := out[i].Line, out[j].Line
			return li > 0 && (lj == 0 || li < lj)
		})
		return out
	case errors.As(err, &me):
		return []Problem{fromManifest(me)}
	}
	var out []Problem
	for _, line := range strings.Split(err.Error(), "\n") {
		out = append(out, Problem{Message: line})
	}
	if errors.As(err, &h) {
		out[len(out)-1].Hint = h.NextStep()
	}
	return capped(out)
}

// capped is ps cut, as a manifest's errors are, to the first
// manifest.MaxErrors and one line counting the rest (with the last one's
// hint, where a hinted error keeps it).
func capped(ps []Problem) []Problem {
	if len(ps) <= manifest.MaxErrors {
		return ps
	}
	more := Problem{Message: MoreProblems(len(ps) - manifest.MaxErrors), Hint: ps[len(ps)-1].Hint}
	return append(ps[:manifest.MaxErrors:manifest.MaxErrors], more)
}

// PrintError prints a command's error, one line per problem, each followed
// by its hint (a hint already given is not repeated).
func (u *UI) PrintError(err error) {
	seen := map[string]bool{}
	for _, p := range Problems(err) {
		u.Errorf("%s", p.Message)
		if p.Hint != "" && !seen[p.Hint] {
			seen[p.Hint] = true
			u.Hintf("%s", p.Hint)
		}
	}
}
