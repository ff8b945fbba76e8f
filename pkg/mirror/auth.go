package mirror

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Transport sends the requests bound for an OCI mirror's registry through
// the registry token flow (basic or bearer, as the registry challenges),
// with credentials from cred (nil: anonymous), and every other request to
// next unchanged. It does not follow redirects itself: the caller's client
// does, so a registry that redirects a blob to its storage host is followed
// like any source, and the registry's credentials and tokens, which go only
// to the registry's own host, never travel with it.
func Transport(next http.RoundTripper, mirrors []Mirror, cred auth.CredentialFunc) http.RoundTripper {
	t := &transport{next: next, hosts: map[string]bool{}}
	for _, m := range mirrors {
		if m.Kind == OCI {
			t.hosts[schemeHost(m.registryScheme(), m.Registry)] = true
		}
	}
	if len(t.hosts) == 0 {
		return next
	}
	t.client = &auth.Client{
		Client: &http.Client{
			Transport:     next,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Credential: cred,
		Cache:      auth.NewCache(),
	}
	t.client.SetUserAgent("modelfetch")
	return t
}

type transport struct {
	next   http.RoundTripper
	hosts  map[string]bool // scheme://host:port of the registries
	client *auth.Client
}

func schemeHost(scheme, host string) string { return scheme + "://" + strings.ToLower(host) }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.hosts[schemeHost(req.URL.Scheme, req.URL.Host)] {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	if repo, ok := blobRepository(req.URL.Path); ok {
		// The scope asked for up front, so the token is cached under it and
		// every chunk of every blob reuses it (no 401 round trip each).
		ctx = auth.AppendRepositoryScope(ctx, registry.Reference{Registry: req.URL.Host, Repository: repo}, auth.ActionPull)
	}
	resp, err := t.client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, authFailure(req.URL.Host, err)
	}
	return resp, nil
}

// blobRepository is REPO of a /v2/REPO/blobs/DIGEST path.
func blobRepository(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, "/blobs/")
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// AuthError is a registry refusing us, for a fetch or a push: no
// credentials for it, credentials it refused (401, 403), or a token service
// that failed. It is permanent: retrying does not change the credentials.
type AuthError struct {
	Registry string
	// Repository is the repository a push was refused; "" for a fetch.
	Repository string
	// Status is the registry's own 401 or 403, when it answered one.
	Status int
	// Anonymous: no credentials were offered.
	Anonymous bool
	// Reason says what happened, for the message.
	Reason string
	Err    error
}

func (e *AuthError) Error() string   { return "registry " + e.Registry + ": " + e.Reason }
func (e *AuthError) Unwrap() error   { return e.Err }
func (e *AuthError) Permanent() bool { return true }

// authFailure tells a failed authentication from a network fault, which
// stays as it is (and is retried by the caller's policy). The token
// service's own URL (with its query) is never part of the message.
func authFailure(host string, err error) error {
	var (
		ne *net.OpError
		er *errcode.ErrorResponse
		ce *credentialError
	)
	switch {
	case errors.As(err, &ce):
		return &AuthError{Registry: host, Reason: ce.Error(), Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
		return err
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return &AuthError{Registry: host, Anonymous: true, Reason: "asks for credentials and none are configured for it (docker login, or DOCKER_CONFIG)", Err: err}
	case errors.As(err, &er) && (er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden):
		return &AuthError{Registry: host, Reason: fmt.Sprintf("the token service refused the credentials (%d %s)", er.StatusCode, strings.ToLower(http.StatusText(er.StatusCode))), Err: err}
	case errors.As(err, &er):
		return &AuthError{Registry: host, Reason: fmt.Sprintf("the token service answered %d %s", er.StatusCode, strings.ToLower(http.StatusText(er.StatusCode))), Err: err}
	}
	var cause string
	if u := errors.Unwrap(err); u != nil {
		cause = firstLine(u.Error())
	} else {
		cause = firstLine(err.Error())
	}
	return &AuthError{Registry: host, Reason: "authentication failed: " + cause, Err: err}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if i := strings.Index(s, "?"); i >= 0 {
		if j := strings.IndexAny(s[i:], "\" "); j >= 0 {
			s = s[:i] + "?REDACTED" + s[i+j:]
		} else {
			s = s[:i] + "?REDACTED"
		}
	}
	return s
}
