package fetch

import (
	"context"
	"errors"
	"time"

	"github.com/djok/modelfetch/pkg/digest"
)

// Status is what happened to an artifact.
type Status string

// Statuses.
const (
	StatusUpToDate  Status = "up-to-date" // installed file already matched
	StatusInstalled Status = "installed"  // downloaded and installed
	StatusFromCache Status = "cached"     // installed from the cache
	StatusWarmed    Status = "warmed"     // downloaded into the cache only
	StatusPresent   Status = "present"    // already in the cache (warm)
	StatusOK        Status = "ok"         // verify: matches
	StatusFailed    Status = "failed"
	StatusWouldGet  Status = "would-download"   // dry run
	StatusWouldCopy Status = "would-copy-cache" // dry run
)

// Result is the outcome for one artifact.
type Result struct {
	Name   string
	Dest   string // absolute destination ("" for cache-only work)
	Status Status
	Size   int64         // installed bytes
	Digest digest.Digest // installed digest
	// Source is the redacted URL the bytes came from, "cache", or "".
	Source string
	// Mirror is the mirror (as configured) Source belongs to, or "" when
	// the bytes came from the model's own source or the cache.
	Mirror string
	// Served is the number of bytes received from the network.
	Served   int64
	Retries  int
	Duration time.Duration
	// Fixed is true when an installed file had the right bytes but the
	// wrong mode or owner, and only those were corrected.
	Fixed bool
	// Warnings are failures that did not stop the artifact (a cache that
	// could not be written), one line each.
	Warnings []error
	Err      error // *Error when Status is StatusFailed
}

// Kind says what sort of failure an artifact ended with.
type Kind int

// Kinds of failure.
const (
	KindNetwork   Kind = iota + 1 // no source could be read
	KindIntegrity                 // a source delivered complete bytes that failed verification
	KindLocal                     // this machine failed (disk, permissions)
	KindCanceled                  // interrupted
)

// SourceError is why one source failed.
type SourceError struct {
	Source string // redacted URL
	Kind   Kind
	Err    error
	// Next: another source (or mirror) will be tried after this one.
	Next bool
	// Mirror is the mirror (as configured) Source belongs to, or "".
	Mirror string
}

func (e *SourceError) Error() string { return e.Source + ": " + e.Reason() }

// Reason is the failure in one line, without the URL.
func (e *SourceError) Reason() string { return describe(e.Err) }
func (e *SourceError) Unwrap() error  { return e.Err }

// Error is an artifact that could not be installed. Kind follows docs/DESIGN.md:
// integrity when no source delivered good bytes and at least one delivered
// complete bad ones, otherwise network (or local/canceled).
type Error struct {
	Artifact string
	Kind     Kind
	Sources  []*SourceError // each source tried, in order
	Err      error          // a failure not tied to one source
}

// Lines returns one message line per failure, each naming the artifact.
func (e *Error) Lines() []string {
	var out []string
	for _, s := range e.Sources {
		out = append(out, e.Artifact+": "+s.Error())
	}
	if e.Err != nil {
		out = append(out, e.Artifact+": "+describe(e.Err))
	}
	return out
}

func (e *Error) Error() string {
	l := e.Lines()
	if len(l) == 0 {
		return e.Artifact + ": failed"
	}
	return l[len(l)-1]
}

func (e *Error) Unwrap() []error {
	var errs []error
	for _, s := range e.Sources {
		errs = append(errs, s)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// failed marks r as failed with err; when ctx was cancelled, that is the
// cause, whatever err says.
func failed(ctx context.Context, r *Result, kind Kind, err error) Result {
	r.Status = StatusFailed
	if ctx.Err() != nil {
		kind, err = KindCanceled, context.Cause(ctx)
	}
	var fe *Error
	if !errors.As(err, &fe) {
		fe = &Error{Artifact: r.Name, Kind: kind, Err: err}
	}
	r.Err = fe
	return *r
}
