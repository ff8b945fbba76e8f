package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/mirror"
	"github.com/djok/modelfetch/pkg/rules"
)

// TestExitCodesTable walks every kind: each has the code docs/DESIGN.md
// gives it, and only usage and manifest errors are 2.
func TestExitCodesTable(t *testing.T) {
	want := map[exitKind]int{
		kindOK: 0, kindFailed: 1, kindNetwork: 1, kindUsage: 2, kindManifest: 2,
		kindIntegrity: 3, kindNotLocked: 4, kindInterrupted: 130, kindTerminated: 143,
	}
	require.Len(t, want, int(numKinds), "a kind without an expected code")
	for k := exitKind(0); k < numKinds; k++ {
		assert.Equal(t, want[k], k.code(), "kind %d", k)
		if k.code() == 2 {
			assert.Contains(t, []exitKind{kindUsage, kindManifest}, k, "only usage and manifest errors are 2")
		}
	}
	assert.Equal(t, exitOK, kindOK.code())
}

// TestClassify: each error kind the commands return, and the default.
func TestClassify(t *testing.T) {
	writeFailed := fmt.Errorf("lock: %w", &fs.PathError{Op: "open", Path: "/m/.models.toml.1.tmp", Err: syscall.EROFS})
	for _, tc := range []struct {
		name string
		err  error
		want exitKind
	}{
		{"nil", nil, kindOK},
		{"usage", usagef("--jobs must be at least 1"), kindUsage},
		{"usage with a hint", &hinted{usagef("unknown command"), "did you mean"}, kindUsage},
		{"a selection the manifest refuses", &manifest.SelectionError{Err: errors.New("--dir x: no such dir")}, kindUsage},
		{"manifest error", &manifest.Error{File: "m.toml", Line: 3, Msg: "bad"}, kindManifest},
		{"manifest errors", manifest.ErrorList{{File: "m.toml", Msg: "bad"}}, kindManifest},
		{"every source blocked", rules.Blocked{{Model: "a", File: "rules.toml"}}, kindNetwork},
		{"decided by the command", reported(kindNotLocked), kindNotLocked},
		{"canceled", fmt.Errorf("get: %w", context.Canceled), kindInterrupted},
		{"a failed manifest write", writeFailed, kindFailed},
		{"anything else", errors.New("something nobody classified"), kindFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, classify(context.Background(), tc.err))
		})
	}
	assert.Equal(t, 1, exitCode(context.Background(), writeFailed), "an unclassified error is 1, not usage")
	assert.Nil(t, reported(kindOK))
}

// TestClassifyInterruptedBySignal: a run canceled by SIGTERM is 143, whether
// the command saw the cancel itself or through its results.
func TestClassifyInterruptedBySignal(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(&signalError{syscall.SIGTERM})
	assert.Equal(t, 143, exitCode(ctx, ctx.Err()))
	assert.Equal(t, 143, exitCode(ctx, reported(kindInterrupted)))
	assert.Equal(t, 3, exitCode(ctx, reported(kindIntegrity)), "a decided kind is kept")
}

// TestLockOutcomesAllMapped walks every lock.Outcome.
func TestLockOutcomesAllMapped(t *testing.T) {
	n := 0
	for o := lock.Outcome(0); !strings.HasPrefix(o.String(), "Outcome("); o++ {
		_, ok := lockKinds[o]
		assert.True(t, ok, "lock outcome %v has no exit kind", o)
		n++
	}
	assert.Equal(t, len(lockKinds), n)
	assert.Equal(t, 4, lockKind(lock.OutcomeIncomplete).code())
	assert.Equal(t, 3, lockKind(lock.OutcomeIntegrity).code())
	assert.Equal(t, 1, lockKind(lock.OutcomeUnreachable).code())
	assert.Equal(t, 2, lockKind(lock.OutcomeReference).code())
	assert.Equal(t, 0, lockKind(lock.OutcomeClean).code())
	assert.Equal(t, kindFailed, lockKind(lock.Outcome(99)))
}

// TestResultsKind: docs/DESIGN.md's "combining outcomes".
func TestResultsKind(t *testing.T) {
	fail := func(k fetch.Kind) fetch.Result {
		return fetch.Result{Status: fetch.StatusFailed, Err: &fetch.Error{Kind: k, Err: errors.New("x")}}
	}
	ok := fetch.Result{Status: fetch.StatusInstalled}
	for _, k := range []fetch.Kind{fetch.KindNetwork, fetch.KindIntegrity, fetch.KindLocal, fetch.KindCanceled} {
		_, mapped := fetchKinds[k]
		assert.True(t, mapped, "fetch kind %d", k)
	}
	for _, tc := range []struct {
		name    string
		results []fetch.Result
		want    int
	}{
		{"all good", []fetch.Result{ok, ok}, 0},
		{"a network failure", []fetch.Result{ok, fail(fetch.KindNetwork)}, 1},
		{"a local failure", []fetch.Result{fail(fetch.KindLocal)}, 1},
		{"integrity wins", []fetch.Result{fail(fetch.KindNetwork), fail(fetch.KindCanceled), fail(fetch.KindIntegrity)}, 3},
		{"interrupted over network", []fetch.Result{fail(fetch.KindNetwork), fail(fetch.KindCanceled)}, 130},
		{"interrupted first", []fetch.Result{fail(fetch.KindCanceled), fail(fetch.KindNetwork)}, 130},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, resultsKind(tc.results).code()) })
	}
}

func TestPushKind(t *testing.T) {
	mismatch := fmt.Errorf("upload a: %w", &digest.SizeError{Got: 3, Want: 4})
	assert.Equal(t, kindOK, pushKind(&mirror.PushReport{}, nil, nil))
	assert.Equal(t, kindNetwork, pushKind(nil, errors.New("registry down"), nil))
	assert.Equal(t, kindNetwork, pushKind(&mirror.PushReport{}, nil, []mirror.Missing{{Reason: "a: not installed"}}))
	assert.Equal(t, kindIntegrity, pushKind(&mirror.PushReport{}, nil, []mirror.Missing{{Reason: "a", Integrity: true}, {Reason: "b"}}))
	assert.Equal(t, kindIntegrity, pushKind(&mirror.PushReport{Blobs: []mirror.BlobResult{{Status: mirror.BlobFailed, Err: mismatch}}}, nil, nil))
	assert.Equal(t, kindIntegrity, pushKind(nil, mismatch, nil))
}

// TestExitThroughTheCommandLine: cobra's argument errors are usage (2); an
// error nobody classified is 1.
func TestExitThroughTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notADir, []byte("x"), 0o644))
	e := env{Cache: filepath.Join(dir, "cache"), Manifest: filepath.Join(dir, "models.toml"), IsTerminal: func() bool { return false }}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"verify", "extra"}, 2},
		{[]string{"mirror", "push"}, 2},
		{[]string{"mirror", "push", "a", "b"}, 2},
		{[]string{"cache", "path", "extra"}, 2},
		{[]string{"version", "--bogus"}, 2},
		{[]string{"completion", "bash", "extra"}, 2},
		{[]string{"cache", "ls", "--cache", notADir}, 1},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, tc.want, run(context.Background(), tc.args, &stdout, &stderr, e), "%s", stderr.String())
			assert.True(t, strings.HasPrefix(stderr.String(), "modelfetch: error: "), "%q", stderr.String())
		})
	}
}

// TestLockWriteFailureExits1: a manifest that lock cannot write (a read-only
// filesystem) is a failure, not a usage error.
func TestLockWriteFailureExits1(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "a.bin")
	require.NoError(t, os.WriteFile(model, []byte("model bytes"), 0o644))
	mdir := filepath.Join(dir, "m")
	mountTmpfs(t, mdir, "size=1m")
	mf := filepath.Join(mdir, "models.toml")
	text := "version = 1\n[models.a]\npath = \"a.bin\"\nurls = [\"file://" + model + "\"]\n"
	require.NoError(t, os.WriteFile(mf, []byte(text), 0o644))
	if out, err := exec.Command("mount", "-o", "remount,ro", mdir).CombinedOutput(); err != nil {
		t.Skipf("cannot remount the tmpfs read-only: %v: %s", err, out)
	}
	var stdout, stderr bytes.Buffer
	e := env{Cache: filepath.Join(dir, "cache"), IsTerminal: func() bool { return false }}
	code := run(context.Background(), []string{"lock", "-m", mf, "--progress", "none"}, &stdout, &stderr, e)
	assert.Equal(t, 1, code, "%s", stderr.String())
	assert.Contains(t, stderr.String(), "read-only file system")
	b, err := os.ReadFile(mf)
	require.NoError(t, err)
	assert.Equal(t, text, string(b))
}
