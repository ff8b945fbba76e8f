package main

// The end of a command that produced results. What is printed, and how,
// is internal/display's (its messages.go states the output rules).

import (
	"context"
	"errors"
	"io"

	"github.com/djok/modelfetch/internal/display"
	"github.com/djok/modelfetch/pkg/fetch"
)

// reporter ends a command that produced results: the summary (or the JSON
// document), each failure once, the hints, and the exit status.
type reporter struct {
	stdout, stderr io.Writer
	command        string
	out            outputOptions
	live           *display.Progress   // what was already shown during the run, or nil
	urls           map[string][]string // by model: the URLs tried, after the url rules
	hints          func([]fetch.Result) []string
	push           *display.Push // what fetch --mirror-push did, for --json
	// blocked, when not nil, is why the run fails though no artifact did:
	// a dry run that shows every model, some of which the url rules block.
	blocked error
}

func (r reporter) report(results []fetch.Result, dry bool) error {
	kind := resultsKind(results)
	var problems []display.Problem
	if r.blocked != nil {
		if kind == kindOK {
			kind = classify(context.Background(), r.blocked)
		}
		problems = display.Problems(r.blocked)
	}
	// An interrupt is said once, after the table, not once per artifact.
	stopped, interrupted := display.Interruption(results)
	if interrupted {
		display.FreshLine(r.stderr, r.stdout) // after the terminal's "^C"
		problems = append(problems, display.Problem{Message: stopped})
	}
	u := &display.UI{Stderr: r.stderr}
	if r.out.json {
		if err := display.WriteJSON(r.stdout, r.command, kind.code(), results, r.urls, problems, r.push); err != nil {
			return err
		}
	} else if !r.out.quiet {
		u.Summary(results, r.command, dry)
	}
	if r.blocked != nil {
		u.PrintError(r.blocked)
	}
	r.failures(u, results)
	if interrupted {
		u.Errorf("%s", stopped)
	}
	if r.hints != nil {
		for _, h := range r.hints(results) {
			u.Hintf("%s", h)
		}
	}
	return reported(kind)
}

// failures prints the results' warnings (unless quiet) and each failure's
// lines not already shown during the run; an interrupted artifact has none:
// the interrupt's one line says it.
func (r reporter) failures(u *display.UI, results []fetch.Result) {
	if !r.out.quiet {
		for _, res := range results {
			for _, w := range res.Warnings {
				u.Warnf("%s: %s", res.Name, display.OneLine(w))
			}
		}
	}
	for _, res := range results {
		var fe *fetch.Error
		if res.Status != fetch.StatusFailed || !errors.As(res.Err, &fe) || display.Interrupted(res) {
			continue
		}
		for _, l := range fe.Lines() {
			if !r.live.Shown(l) {
				u.Errorf("%s", l)
			}
		}
	}
}
