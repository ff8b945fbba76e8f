package fetch

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStaleExpiryKeepsTheRenewedTarget: a chunk that was sent to a signed
// link before another chunk resolved the source again gets its 403 after
// that; the renewed link must stay, or every chunk that starts before the
// next answer goes back to the origin (one round trip more per chunk, not
// one per chunk in flight: TestExpiredRedirectTargetIsResolvedAgain's
// flake). The 403 of the link in use does clear it.
func TestStaleExpiryKeepsTheRenewedTarget(t *testing.T) {
	parse := func(s string) *url.URL {
		u, err := url.Parse(s)
		require.NoError(t, err)
		return u
	}
	expired := parse("http://storage.test/blob?sig=0")
	renewed := parse("http://storage.test/blob?sig=1")
	s := &httpSource{orig: parse("http://origin.test/m.bin"), now: time.Now, final: renewed}
	forbidden := func(u *url.URL) *http.Response {
		return &http.Response{StatusCode: http.StatusForbidden, Header: http.Header{}, Request: &http.Request{URL: u}}
	}

	_, err := s.check(forbidden(expired), nil, asked{u: expired, resolved: true, to: -1})
	var exp *expiredError
	require.ErrorAs(t, err, &exp, "the late chunk resolves again itself")
	assert.Equal(t, renewed, s.final, "the renewed link is kept for the other chunks")

	// The same link renewed again (another *url.URL, the same address) is
	// the one that expired.
	s.final = parse(expired.String())
	_, err = s.check(forbidden(expired), nil, asked{u: expired, resolved: true, to: -1})
	require.ErrorAs(t, err, &exp)
	assert.Nil(t, s.final)

	s.final = renewed
	_, err = s.check(forbidden(renewed), nil, asked{u: renewed, resolved: true, to: -1})
	require.ErrorAs(t, err, &exp)
	assert.Nil(t, s.final, "the link in use expired: the next request goes to the origin")
}
