package main

import (
	"context"
	"errors"
	"os"
	"syscall"
)

// Signals (docs/DESIGN.md): the first SIGINT or SIGTERM cancels the run, which
// then ends promptly with nothing half-written and exits 130 or 143, as
// shells report them; a second signal ends the process at once.

// signalError is the cause of a run canceled by a signal.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string {
	if e.sig == syscall.SIGTERM {
		return "terminated (SIGTERM)"
	}
	return "interrupted (SIGINT)"
}

// signalKind is the kind of a run ended by sig.
func signalKind(sig os.Signal) exitKind {
	if sig == syscall.SIGTERM {
		return kindTerminated
	}
	return kindInterrupted
}

// interruptedKind refines kind for a run canceled through ctx: a SIGTERM
// made it kindTerminated. Any other kind is kept.
func interruptedKind(ctx context.Context, kind exitKind) exitKind {
	if kind == kindInterrupted {
		return signaledKind(context.Cause(ctx))
	}
	return kind
}

// signaledKind is the kind of an artifact the run's cancel stopped: the
// signal that caused it is in err (kindTerminated for SIGTERM), else
// kindInterrupted.
func signaledKind(err error) exitKind {
	var se *signalError
	if errors.As(err, &se) {
		return signalKind(se.sig)
	}
	return kindInterrupted
}

// withSignals returns a context canceled by the first signal from sigs;
// a second one calls exit at once with its status. stop ends the watch.
func withSignals(parent context.Context, sigs <-chan os.Signal, exit func(int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			cancel(&signalError{s})
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			exit(signalKind(s).code())
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		cancel(nil)
	}
}
