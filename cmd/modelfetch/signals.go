package main

import (
	"context"
	"errors"
	"os"
	"syscall"
)

// Signals (DESIGN.md): the first SIGINT or SIGTERM cancels the run, which
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

// signalExit is the exit status for a run ended by sig.
func signalExit(sig os.Signal) int {
	if sig == syscall.SIGTERM {
		return exitTerminated
	}
	return exitInterrupted
}

// interruptedExit is the exit status of a run canceled through ctx: 143 when
// a SIGTERM did it, else 130.
func interruptedExit(ctx context.Context) int {
	var se *signalError
	if errors.As(context.Cause(ctx), &se) {
		return signalExit(se.sig)
	}
	return exitInterrupted
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
			exit(signalExit(s))
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		cancel(nil)
	}
}
