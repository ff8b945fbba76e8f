// Command modelfetch fetches, verifies and installs the model files a
// models.toml lists. This package is the thin layer: flags, output and exit
// codes; the work is done in pkg/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Exit codes (DESIGN.md).
const (
	exitOK          = 0
	exitNetwork     = 1
	exitUsage       = 2
	exitIntegrity   = 3
	exitStale       = 4
	exitInterrupted = 130 // SIGINT
	exitTerminated  = 143 // SIGTERM
)

func main() { os.Exit(Main()) }

// memoryLimit keeps the heap (chunk buffers, decoders) from doubling between
// collections: peak RSS stays near what is live. GOMEMLIMIT overrides it.
const memoryLimit = 200 << 20

// Main runs the command line against the process's arguments and
// environment and returns the exit code.
func Main() int {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, stop := withSignals(context.Background(), sigs, os.Exit)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdout, os.Stderr, envFromOS())
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, env env) int {
	u := &ui{stderr: stderr}
	root := newRootCmd(stdout, stderr, env)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(ctx, err)
	var sig *signalError
	if errors.Is(err, context.Canceled) && errors.As(context.Cause(ctx), &sig) {
		err = sig // say which signal
	}
	if err != nil && !errors.Is(err, errReported) {
		u.printError(err)
		// A failure before any result still gets its document.
		if wantsJSON(cmd, args) {
			_ = writeJSON(stdout, commandName(cmd), code, nil, nil, problems(err), nil)
		}
	}
	return code
}

// wantsJSON reports whether --json was asked of cmd, reading the arguments
// themselves when flag parsing stopped before it.
func wantsJSON(cmd *cobra.Command, args []string) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flags().Lookup("json")
	if f == nil {
		return false
	}
	if f.Changed {
		return f.Value.String() == "true"
	}
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}

// commandName is cmd's path below the root ("fetch" for the root).
func commandName(cmd *cobra.Command) string {
	if cmd == nil || !cmd.HasParent() {
		return "fetch"
	}
	_, name, _ := strings.Cut(cmd.CommandPath(), " ")
	return name
}

// errReported wraps a failure whose details were already printed.
var errReported = errors.New("reported")

// exitError carries an exit code decided by a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is a command line mistake (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// hinted is an error with a next step.
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() }
func (e *hinted) Unwrap() error { return e.err }

// exitCode is the one place exit codes are decided.
func exitCode(ctx context.Context, err error) int {
	code := errorExit(ctx, err)
	if code == exitInterrupted {
		return interruptedExit(ctx)
	}
	return code
}

func errorExit(ctx context.Context, err error) int {
	var ee *exitError
	var ml manifest.ErrorList
	var me *manifest.Error
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ml), errors.As(err, &me), errors.As(err, &ue):
		return exitUsage
	}
	// Cobra's own flag and argument errors.
	return exitUsage
}

// resultsExit combines artifact outcomes (DESIGN.md, "combining outcomes"):
// 3 if any failed with integrity, else 130 if interrupted, else 1 if any
// failed, else 0.
func resultsExit(results []fetch.Result) int {
	code := exitOK
	for _, r := range results {
		var fe *fetch.Error
		if r.Status != fetch.StatusFailed || !errors.As(r.Err, &fe) {
			continue
		}
		switch fe.Kind {
		case fetch.KindIntegrity:
			return exitIntegrity
		case fetch.KindCanceled:
			code = exitInterrupted
		case fetch.KindNetwork:
			if lock.BadReference(r.Err) && (code == exitOK || code == exitNetwork) {
				code = exitUsage // a source names a registry index
			} else if code == exitOK {
				code = exitNetwork
			}
		default:
			if code == exitOK {
				code = exitNetwork
			}
		}
	}
	return code
}
