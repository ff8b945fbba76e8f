package fetch

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
)

// deadHosts are the hosts a run has given up on: the connection was
// refused, the name does not exist, the network has no route to it, or TLS
// failed. A source on such a host is not tried again in that run, by any
// artifact: a site's dead proxy or mirror costs one attempt, not one (and
// its retries) per file.
type deadHosts struct {
	mu sync.Mutex
	m  map[string]error // hostKey -> why
}

// check returns why u's host was given up on, or nil.
func (d *deadHosts) check(u *url.URL) error {
	if u.Scheme == "file" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cause, ok := d.m[hostKey(u)]; ok {
		return &deadHostError{host: u.Host, cause: cause}
	}
	return nil
}

// mark records u's host as dead when err says it cannot be reached. An
// error about another host (one a redirect led to) marks nothing.
func (d *deadHosts) mark(u *url.URL, err error) {
	if u.Scheme == "file" || !unreachable(err) {
		return
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if eu, perr := url.Parse(ue.URL); perr != nil || hostKey(eu) != hostKey(u) {
			return
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]error{}
	}
	if _, ok := d.m[hostKey(u)]; !ok {
		d.m[hostKey(u)] = err
	}
}

// hostKey is scheme://host:port, the port made explicit.
func hostKey(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// deadHostError is a source not tried because its host was given up on
// earlier in the run.
type deadHostError struct {
	host  string
	cause error
}

func (e *deadHostError) Error() string {
	return fmt.Sprintf("not tried: %s was unreachable earlier in this run (%s)", e.host, describe(e.cause))
}

// No Unwrap: describe would render the cause as if it had just happened.

// Permanent: the host was given up for the run.
func (e *deadHostError) Permanent() bool { return true }

// unreachable reports whether err says the host cannot be reached at all
// (as opposed to a fault of one connection or one answer): refused,
// no route, a name that does not exist, a TLS handshake that fails.
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	var alert tls.AlertError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.As(err, &dnsErr):
		return dnsErr.IsNotFound
	}
	return tlsFailure(err) || errors.As(err, &alert)
}
