// Command modelfetch fetches, verifies and installs the model files a
// models.toml lists. This package is the thin layer: flags, the environment,
// one call per command into pkg/, what to print handed to internal/display,
// and the exit codes (exit.go).
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/internal/display"
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
	u := &display.UI{Stderr: stderr}
	root := newRootCmd(stdout, stderr, env)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(ctx, err)
	var sig *signalError
	if errors.Is(err, context.Canceled) && errors.As(context.Cause(ctx), &sig) {
		err = sig // say which signal
	}
	if err != nil && !errors.Is(err, errReported) {
		if ctx.Err() != nil {
			display.FreshLine(stderr, stdout) // after the terminal's "^C"
		}
		u.PrintError(err)
		// A failure before any result still gets its document.
		if wantsJSON(cmd, args) {
			_ = display.WriteJSON(stdout, commandName(cmd), code, nil, nil, display.Problems(err), nil)
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

// hinted is an error with a next step (a display.NextStep).
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string    { return e.err.Error() }
func (e *hinted) Unwrap() error    { return e.err }
func (e *hinted) NextStep() string { return e.hint }
