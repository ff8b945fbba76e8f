package mirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/djok/modelfetch/internal/fsutil"
)

// helperTimeout is how long a credential helper (docker-credential-*) may
// take to answer before the registry is given up on.
var helperTimeout = 20 * time.Second

// DockerCredentials reads registry credentials the way docker does: the
// config.json at configPath, with its auths, credHelpers and credsStore,
// whose docker-credential-* helpers are run as docker runs them. A missing
// file means no credentials.
//
// It never fails itself. A config that cannot be used (not a regular file,
// not a Docker config, an auth entry that is not base64 of user:password)
// and a helper that fails or does not answer within 20 s make the
// lookup for a registry fail with a one-line error that names the file and
// never its contents, so that registry is given up like an unreachable one.
// Each registry is looked up once; the answer is reused.
func DockerCredentials(configPath string) auth.CredentialFunc {
	c := &credentialCache{calls: map[string]*credentialCall{}, path: configPath}
	store, err := openStore(configPath)
	if err != nil {
		c.get = func(context.Context, string) (auth.Credential, error) { return auth.EmptyCredential, err }
	} else {
		c.get = credentials.Credential(store)
	}
	return c.credential
}

func openStore(path string) (credentials.Store, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return credentials.NewMemoryStore(), nil
	case err != nil:
		return nil, fmt.Errorf("docker config %s: %w", path, fsutil.PathCause(err))
	case !fi.Mode().IsRegular():
		// Opening a FIFO would block until a writer came.
		return nil, fmt.Errorf("docker config %s: not a regular file", path)
	case fi.Size() > maxConfigSize:
		return nil, fmt.Errorf("docker config %s: larger than %d MiB", path, maxConfigSize>>20)
	}
	store, err := credentials.NewStore(path, credentials.StoreOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker config %s: not a valid config.json", path)
	}
	return store, nil
}

// maxConfigSize bounds the Docker config read (docker's own are a few KiB).
const maxConfigSize = 4 << 20

// credentialCache asks for each registry's credential once, with a
// deadline, in its own goroutine: a helper that hangs holds no request past
// helperTimeout, and one request's cancellation does not fail the others.
type credentialCache struct {
	path  string
	get   auth.CredentialFunc
	mu    sync.Mutex
	calls map[string]*credentialCall
}

type credentialCall struct {
	done chan struct{}
	cred auth.Credential
	err  error
}

func (c *credentialCache) credential(ctx context.Context, host string) (auth.Credential, error) {
	c.mu.Lock()
	call, ok := c.calls[host]
	if !ok {
		call = &credentialCall{done: make(chan struct{})}
		c.calls[host] = call
		go c.lookup(host, call)
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.cred, call.err
	case <-ctx.Done():
		return auth.EmptyCredential, ctx.Err()
	}
}

// lookup runs the lookup for host and settles call with its answer, or
// with a timeout: a helper killed at its deadline can leave a child holding
// its output open, so the answer is not waited for past it.
func (c *credentialCache) lookup(host string, call *credentialCall) {
	defer close(call.done)
	type answer struct {
		cred auth.Credential
		err  error
	}
	ch := make(chan answer, 1)
	hctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	go func() {
		cred, err := c.get(hctx, host)
		ch <- answer{cred, err}
	}()
	select {
	case a := <-ch:
		call.cred, call.err = a.cred, a.err
		if a.err != nil {
			call.err = c.explain(hctx, host, a.err)
		}
	case <-hctx.Done():
		call.err = c.explain(hctx, host, hctx.Err())
	}
}

// explain turns a lookup failure into one line that names the file and
// never repeats what is in it (oras' messages quote a malformed auth entry,
// decoded; a helper's quote its output).
func (c *credentialCache) explain(ctx context.Context, host string, err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "docker config "):
		return &credentialError{err}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		msg = fmt.Sprintf("the credential helper for %s did not answer within %s", host, helperTimeout)
	case strings.Contains(msg, "base64") || strings.Contains(msg, "invalid config format"):
		msg = fmt.Sprintf("the auth entry for %s is not base64 of user:password", host)
	default:
		msg = fmt.Sprintf("the credential helper for %s failed", host)
	}
	return &credentialError{fmt.Errorf("docker config %s: %s", c.path, msg)}
}

// credentialError is a registry's credential that could not be had. It is
// permanent: asking again gives the same answer.
type credentialError struct{ err error }

func (e *credentialError) Error() string   { return e.err.Error() }
func (e *credentialError) Unwrap() error   { return e.err }
func (e *credentialError) Permanent() bool { return true }
