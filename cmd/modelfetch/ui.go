package main

// The end of a command that produced results. What is printed, and how,
// is internal/display's (its messages.go states the output rules).

import (
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
}

func (r reporter) report(results []fetch.Result, dry bool) error {
	kind := resultsKind(results)
	code := kind.code()
	u := &display.UI{Stderr: r.stderr}
	if r.out.json {
		if err := display.WriteJSON(r.stdout, r.command, code, results, r.urls, nil, r.push); err != nil {
			return err
		}
	} else if !r.out.quiet {
		u.Summary(results, r.command, dry)
	}
	if !r.out.quiet {
		for _, res := range results {
			for _, w := range res.Warnings {
				u.Warnf("%s: %s", res.Name, display.OneLine(w))
			}
		}
	}
	for _, res := range results {
		var fe *fetch.Error
		if res.Status != fetch.StatusFailed || !errors.As(res.Err, &fe) {
			continue
		}
		for _, l := range fe.Lines() {
			if !r.live.Shown(l) {
				u.Errorf("%s", l)
			}
		}
	}
	if r.hints != nil {
		for _, h := range r.hints(results) {
			u.Hintf("%s", h)
		}
	}
	return reported(kind)
}
