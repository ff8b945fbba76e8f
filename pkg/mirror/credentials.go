package mirror

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"
)

// DockerCredentials reads registry credentials the way docker does: the
// config.json at configPath, with its auths, credHelpers and credsStore,
// whose docker-credential-* helpers are run as docker runs them. A missing
// file means no credentials.
//
// It never fails itself. A config that cannot be used (not a regular file,
// larger than 4 MiB, not a Docker config, an auth entry that is not base64
// of user:password or holds a value over 16 KiB) and a helper that fails,
// answers more than 64 KiB or does not answer within 20 s make the lookup
// for a registry fail with a one-line error that names the file or the
// helper and never what is in it, so that registry is given up like an
// unreachable one. The file is read once, here, in one non-blocking open.
// Each registry is looked up once; the answer is reused.
func DockerCredentials(configPath string) auth.CredentialFunc {
	return dockerCredentials(configPath, helperTimeout)
}

func dockerCredentials(configPath string, timeout time.Duration) auth.CredentialFunc {
	c := &credentialCache{calls: map[string]*credentialCall{}, path: configPath, timeout: timeout}
	c.config, c.err = loadDockerConfig(configPath)
	return c.credential
}

// credentialCache runs each registry's helper once, in its own goroutine,
// with its deadline: a helper that hangs holds no request past it, and one
// request's cancellation does not fail the others waiting on it. When every
// request waiting on a helper has gone (the run was interrupted), the
// helper is killed and forgotten.
type credentialCache struct {
	path    string
	timeout time.Duration
	config  *dockerConfig
	err     error // the config could not be used
	mu      sync.Mutex
	calls   map[string]*credentialCall
}

type credentialCall struct {
	done    chan struct{}
	cred    auth.Credential
	err     error
	waiters int
	stop    context.CancelFunc
}

func (c *credentialCache) credential(ctx context.Context, host string) (auth.Credential, error) {
	if c.err != nil {
		return auth.EmptyCredential, c.err
	}
	addr := serverAddress(host)
	helper := c.config.helperFor(addr)
	if helper == "" {
		return c.config.authFor(c.path, addr)
	}
	c.mu.Lock()
	call, ok := c.calls[addr]
	if !ok {
		lctx, stop := context.WithCancel(context.Background())
		call = &credentialCall{done: make(chan struct{}), stop: stop}
		c.calls[addr] = call
		go c.lookup(lctx, helper, addr, call)
	}
	call.waiters++
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.cred, call.err
	default:
	}
	// The helper's own deadline bounds this wait: a stall timer should not.
	credentialWait(ctx, true)
	defer credentialWait(ctx, false)
	select {
	case <-call.done:
		return call.cred, call.err
	case <-ctx.Done():
		c.leave(addr, call)
		return auth.EmptyCredential, ctx.Err()
	}
}

// leave is a request giving up on call; the last one to leave an
// unsettled call stops its helper (its process group is killed) and waits
// a moment for that, so an interrupted run leaves no helper behind.
func (c *credentialCache) leave(addr string, call *credentialCall) {
	c.mu.Lock()
	call.waiters--
	last := call.waiters == 0
	if last && c.calls[addr] == call {
		select {
		case <-call.done:
		default:
			delete(c.calls, addr) // a later request runs the helper again
		}
	}
	c.mu.Unlock()
	if last {
		call.stop()
		select {
		case <-call.done:
		case <-time.After(time.Second / 2):
		}
	}
}

// lookup runs the helper and settles call with its answer.
func (c *credentialCache) lookup(ctx context.Context, helper, addr string, call *credentialCall) {
	defer close(call.done)
	defer call.stop()
	call.cred, call.err = runHelper(ctx, helper, addr, c.timeout)
	var he *helperError
	if errors.As(call.err, &he) {
		call.err = &credentialError{fmt.Errorf("docker config %s: %w", c.path, call.err)}
	}
}

// credentialError is a registry's credential that could not be had. It is
// permanent: asking again gives the same answer.
type credentialError struct{ err error }

func (e *credentialError) Error() string   { return e.err.Error() }
func (e *credentialError) Unwrap() error   { return e.err }
func (e *credentialError) Permanent() bool { return true }

// waitKey is the context key of WithCredentialWait.
type waitKey struct{}

// WithCredentialWait returns ctx carrying wait, which a registry request
// made under it calls with true when it starts waiting for a credential
// helper and with false when it stops. The helper's deadline bounds that
// wait, so a caller's stall timer should not count it: the wait is then
// reported as the helper's, not as a stalled connection.
func WithCredentialWait(ctx context.Context, wait func(waiting bool)) context.Context {
	return context.WithValue(ctx, waitKey{}, wait)
}

func credentialWait(ctx context.Context, waiting bool) {
	if f, ok := ctx.Value(waitKey{}).(func(bool)); ok && f != nil {
		f(waiting)
	}
}
