package display

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/djok/modelfetch/pkg/fetch"
)

// An interrupted run (Ctrl-C, SIGTERM, a cancel) says so once: the artifacts
// it stopped are "interrupted" in the summary and the --json document, not
// "failed" (their sources did nothing wrong), and one line after the table
// says why and how many, instead of one error line each.

// statusInterrupted is the status of an artifact a signal stopped before it
// was installed.
const statusInterrupted fetch.Status = "interrupted"

// Interrupted reports whether r is an artifact the run was stopped before it
// was finished.
func Interrupted(r fetch.Result) bool {
	var fe *fetch.Error
	return r.Status == fetch.StatusFailed && errors.As(r.Err, &fe) && fe.Kind == fetch.KindCanceled
}

// resultStatus is r's status as the summary and the --json document say it.
func resultStatus(r fetch.Result) fetch.Status {
	if Interrupted(r) {
		return statusInterrupted
	}
	return r.Status
}

// Interruption is the one line said of a run stopped with artifacts not
// finished: by what, how many, and that none of them was left half-written
// (an artifact is renamed into its place only whole and verified, and its
// temp file is removed when it is not). ok is false when none was stopped.
func Interruption(results []fetch.Result) (line string, ok bool) {
	n, why := 0, "interrupted"
	for _, r := range results {
		if !Interrupted(r) {
			continue
		}
		var fe *fetch.Error
		if n == 0 && errors.As(r.Err, &fe) && fe.Err != nil && !errors.Is(fe.Err, context.Canceled) {
			why = OneLine(fe.Err) // the signal: "interrupted (SIGINT)"
		}
		n++
	}
	if n == 0 {
		return "", false
	}
	return fmt.Sprintf("%s: %d of %s not finished, none left half-written", why, n, Plural(len(results), "artifact")), true
}

// FreshLine, after an interrupt, makes what follows (the summary's header,
// the error line, the --json document) start at the beginning of a line on a
// terminal, where the terminal echoed "^C" at the cursor: on stderr, when it
// is a terminal, the echo is erased; else on stdout, when that is one, a
// newline (JSON's whitespace: the document stays one that parses). A pipe or
// a file gets nothing: the echo never reaches it.
func FreshLine(stderr, stdout io.Writer) {
	if f, ok := stderr.(*os.File); ok && IsTerminal(f) {
		fmt.Fprint(f, "\r\x1b[K")
	} else if f, ok := stdout.(*os.File); ok && IsTerminal(f) {
		fmt.Fprint(f, "\n")
	}
}
