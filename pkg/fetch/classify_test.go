package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/djok/modelfetch/pkg/digest"
)

// foreign is another package's error that knows it is final (as
// pkg/mirror's refused credentials do).
type foreign struct{}

func (foreign) Error() string   { return "registry refused the credentials" }
func (foreign) Permanent() bool { return true }

// Every failure is classified in one place (transient), by the error's own
// answer where it gives one; the outermost answer wins.
func TestOneClassification(t *testing.T) {
	status := func(code int) *StatusError { return &StatusError{Code: code, Host: "h:1"} }
	for _, tc := range []struct {
		err       error
		transient bool
	}{
		{status(503), true}, {status(429), true}, {status(408), true}, {status(500), true},
		{status(404), false}, {status(403), false}, {status(501), false}, {status(505), false},
		{&url.Error{Op: "Get", URL: "https://h/x", Err: status(502)}, true},
		{&expiredError{status(403)}, true},
		{&RetryAfterError{Err: status(503), Status: status(503), Cap: time.Minute}, false},
		{&StallError{Idle: time.Second}, true},
		{&TruncatedError{Got: 1, Want: 2}, true},
		{&SlowError{}, false},
		{&ShortError{Served: 1, Want: 2}, false},
		{&trailingError{1}, false},
		{&permanentError{errors.New("offline")}, false},
		{&redirectError{"stopped after 10 redirects"}, false},
		{&localError{syscall.ENOSPC}, false},
		{&missError{"m"}, false},
		{&deadHostError{host: "h", cause: syscall.ECONNREFUSED}, false},
		{fmt.Errorf("push: %w", foreign{}), false},
		{&digest.SizeError{Got: 2, Want: 1, Over: true}, false},
		{context.Canceled, false},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, false},
		{&net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}, true},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{errors.New("unexpected EOF"), true},
	} {
		assert.Equal(t, tc.transient, transient(tc.err), "%T %v", tc.err, tc.err)
	}
}

// The policy reads an answer; it never changes it. A throttled answer cuts
// its host's connections through the Fetcher's budget, by the host's name.
func TestThePolicyChangesNoError(t *testing.T) {
	f := New(Options{HostConnections: 8})
	se := &StatusError{Code: 503, Host: "h:1", RetryAfter: time.Second, HasRetryAfter: true}
	before := *se
	r := &retrier{p: &f.policy, hosts: f.host}
	f.host("h:1").peak = 8 // 8 in use at once, the throttled one among them
	_, free := r.delay(se)
	assert.True(t, free, "the host took the blame")
	assert.Equal(t, before, *se)
	assert.Equal(t, 4, f.host("h:1").limit, "halved")
}
