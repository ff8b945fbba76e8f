package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"
)

// helperTimeout is how long a credential helper (docker-credential-*) may
// take to answer before its registry is given up on.
const helperTimeout = 20 * time.Second

// notFound is what a helper prints when it has no credential for a server.
const notFound = "credentials not found in native keychain"

// runHelper asks docker-credential-NAME for the credential of server, as
// docker does ("get", the server on stdin, JSON on stdout), within bounds:
// it runs in its own process group, which is killed whole at the deadline,
// when ctx ends, and once it has answered (no child of it outlives the
// lookup); its output is read up to maxHelperOutput and each value up to
// maxSecret. Its stderr is not read: a helper's messages may quote secrets.
func runHelper(ctx context.Context, name, server string, timeout time.Duration) (auth.Credential, error) {
	prog := "docker-credential-" + name
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(hctx, prog, "get")
	cmd.Stdin = strings.NewReader(server)
	out := &cappedBuffer{max: maxHelperOutput}
	cmd.Stdout = out
	cmd.WaitDelay = 500 * time.Millisecond
	ownGroup(cmd)
	err := cmd.Run()
	killGroup(cmd)
	fail := func(msg string) error { return &helperError{prog: prog, msg: msg} }
	// Exited 0, but a child it detached (its own session, beyond the group
	// kill) still holds its output open: what it printed before exiting is
	// its answer, read in full by then.
	lingering := errors.Is(err, exec.ErrWaitDelay) && hctx.Err() == nil
	if lingering {
		err = nil
	}
	switch {
	case ctx.Err() != nil:
		return auth.EmptyCredential, ctx.Err()
	case errors.Is(hctx.Err(), context.DeadlineExceeded):
		return auth.EmptyCredential, fail(fmt.Sprintf("no answer in %s", timeout))
	case out.over:
		return auth.EmptyCredential, fail(fmt.Sprintf("its answer is larger than %d KiB", maxHelperOutput>>10))
	case err != nil && strings.TrimSpace(out.buf.String()) == notFound:
		return auth.EmptyCredential, nil
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return auth.EmptyCredential, fail(fmt.Sprintf("failed (%s)", ee.ProcessState))
		}
		var xe *exec.Error
		if errors.As(err, &xe) {
			err = xe.Err
		}
		return auth.EmptyCredential, fail("could not be run: " + err.Error())
	}
	if lingering && !json.Valid(out.buf.Bytes()) {
		return auth.EmptyCredential, fail("its answer is not the JSON of a credential (it exited, leaving a process that holds its output open)")
	}
	return parseHelperAnswer(out.buf.Bytes(), fail)
}

func parseHelperAnswer(b []byte, fail func(string) error) (auth.Credential, error) {
	var answer struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(b, &answer); err != nil {
		return auth.EmptyCredential, fail("its answer is not the JSON of a credential")
	}
	c := auth.Credential{Username: answer.Username, Password: answer.Secret}
	if answer.Username == "<token>" { // docker's mark of an identity token
		c = auth.Credential{RefreshToken: answer.Secret}
	}
	if tooLong(c) {
		return auth.EmptyCredential, fail(fmt.Sprintf("its answer makes a credential longer than %d KiB", maxSecret>>10))
	}
	return c, nil
}

// helperError is a credential helper that did not give a usable answer.
type helperError struct{ prog, msg string }

func (e *helperError) Error() string { return "credential helper " + e.prog + ": " + e.msg }

// cappedBuffer keeps the first max bytes written to it and drops the rest,
// remembering that there was more.
type cappedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.buf.Write(p[:max(room, 0)])
		c.over = true
		return len(p), nil
	}
	return c.buf.Write(p)
}
