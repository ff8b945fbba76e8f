package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/mirror"
	"github.com/djok/modelfetch/pkg/rules"
)

// Exit status (docs/DESIGN.md, "Exit status"). This file is the one place it
// is decided: every command returns an error, classify names its kind, and
// exitCodes gives the code. An error classify does not know is kindFailed,
// exit 1: only usage and manifest errors are 2.

// exitKind is what the outcome of a run means to its caller.
type exitKind int

const (
	kindOK          exitKind = iota
	kindFailed               // anything not classified below
	kindNetwork              // no source could (or may, under the url rules) be read
	kindUsage                // a command line mistake: flags, arguments, environment
	kindManifest             // the manifest or the url rules file is wrong
	kindIntegrity            // bytes that failed verification, or sources that disagree
	kindNotLocked            // lock --check: values are missing
	kindInterrupted          // canceled: SIGINT, or no signal known
	kindTerminated           // SIGTERM
	numKinds
)

// exitCodes is the table from kind to exit status.
var exitCodes = [numKinds]int{
	kindOK:          0,
	kindFailed:      1,
	kindNetwork:     1,
	kindUsage:       2,
	kindManifest:    2,
	kindIntegrity:   3,
	kindNotLocked:   4,
	kindInterrupted: 130,
	kindTerminated:  143,
}

// exitOK is kindOK's code, for the result documents' "ok".
const exitOK = 0

// code is k's exit status.
func (k exitKind) code() int { return exitCodes[k] }

// exitCode is the exit status of a run that ended with err.
func exitCode(ctx context.Context, err error) int { return classify(ctx, err).code() }

// classify names the kind of err.
func classify(ctx context.Context, err error) exitKind {
	var (
		ke      *kindError
		ue      *usageError
		se      *manifest.SelectionError
		ml      manifest.ErrorList
		me      *manifest.Error
		blocked rules.Blocked
	)
	switch {
	case err == nil:
		return kindOK
	case errors.As(err, &ke):
		return interruptedKind(ctx, ke.kind)
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return interruptedKind(ctx, kindInterrupted)
	case errors.As(err, &ue), errors.As(err, &se):
		return kindUsage
	case errors.As(err, &ml), errors.As(err, &me):
		return kindManifest
	case errors.As(err, &blocked):
		return kindNetwork
	}
	return kindFailed
}

// kindError is a failure whose kind its command decided (from results, a
// report, findings); err is usually errReported.
type kindError struct {
	kind exitKind
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// reported is the error of a command that has printed what went wrong and
// ends with kind (nil for kindOK).
func reported(kind exitKind) error {
	if kind == kindOK {
		return nil
	}
	return &kindError{kind: kind, err: errReported}
}

// usageError is a command line mistake (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// usageArgs makes the argument checks of root and every command beneath it
// (cobra.NoArgs, cobra.ExactArgs, ...) return usage errors. Cobra's own help
// and completion commands are added first, so theirs are covered too.
func usageArgs(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	wrapArgs(root)
}

func wrapArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			err := check(c, args)
			var ue *usageError
			if err == nil || errors.As(err, &ue) {
				return err
			}
			return &usageError{err}
		}
	}
	for _, sub := range cmd.Commands() {
		wrapArgs(sub)
	}
}

// fetchKinds classifies the failure of one artifact.
var fetchKinds = map[fetch.Kind]exitKind{
	fetch.KindNetwork:   kindNetwork,
	fetch.KindIntegrity: kindIntegrity,
	fetch.KindLocal:     kindFailed,
	fetch.KindCanceled:  kindInterrupted,
}

// resultsKind combines artifact outcomes (docs/DESIGN.md, "Combining
// outcomes"): integrity if any failed with integrity, else interrupted if
// any was, else failed if any failed, else OK.
func resultsKind(results []fetch.Result) exitKind {
	kind := kindOK
	for _, r := range results {
		var fe *fetch.Error
		if r.Status != fetch.StatusFailed || !errors.As(r.Err, &fe) {
			continue
		}
		k, ok := fetchKinds[fe.Kind]
		switch {
		case !ok:
			k = kindFailed
		case fe.Kind == fetch.KindNetwork && lock.BadReference(r.Err):
			k = kindManifest // a source names a registry index: pin a child
		}
		switch {
		case k == kindIntegrity:
			return kindIntegrity
		case k == kindInterrupted:
			kind = signaledKind(r.Err) // 143 for SIGTERM, in the JSON too
		case kind == kindOK, k == kindManifest && kind == kindNetwork:
			kind = k
		}
	}
	return kind
}

// lockKinds classifies a lock run's findings.
var lockKinds = map[lock.Outcome]exitKind{
	lock.OutcomeClean:       kindOK,
	lock.OutcomeIncomplete:  kindNotLocked,
	lock.OutcomeUnreachable: kindNetwork,
	lock.OutcomeReference:   kindManifest,
	lock.OutcomeIntegrity:   kindIntegrity,
}

// lockKind is the kind of a lock run's outcome.
func lockKind(o lock.Outcome) exitKind {
	if k, ok := lockKinds[o]; ok {
		return k
	}
	return kindFailed
}

// pushKind: integrity when a file is not what the manifest records, else
// failed when anything is not in the registry, else OK.
func pushKind(r *mirror.PushReport, err error, missing []mirror.Missing) exitKind {
	integrity := err != nil && digest.IsIntegrity(err)
	for _, m := range missing {
		integrity = integrity || m.Integrity
	}
	if r != nil {
		for _, b := range r.Blobs {
			integrity = integrity || (b.Err != nil && digest.IsIntegrity(b.Err))
		}
	}
	switch {
	case integrity:
		return kindIntegrity
	case err != nil || len(missing) > 0:
		return kindNetwork
	}
	return kindOK
}
