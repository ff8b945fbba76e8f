// Package retry is the arithmetic of modelfetch's retry policy, shared by the
// download pipeline (pkg/fetch) and the registry push (pkg/mirror): which
// HTTP statuses are worth another try, how long to wait before it
// (exponential backoff with full jitter, or the server's Retry-After,
// clamped), and how to wait without outliving a cancelled context. Each
// caller decides what else is transient for it and counts its own tries.
package retry

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of a Policy's zero fields.
const (
	DefaultRetries       = 5
	DefaultBase          = 500 * time.Millisecond
	DefaultCap           = 30 * time.Second
	DefaultMaxRetryAfter = 2 * time.Minute
)

// Policy shapes the waits between tries.
type Policy struct {
	// Retries is how many times a transient fault is tried again.
	Retries int
	// Base and Cap bound the exponential backoff: try n waits between
	// half and all of min(Base×2ⁿ, Cap).
	Base, Cap time.Duration
	// MaxRetryAfter caps how long a server's Retry-After may make us wait.
	MaxRetryAfter time.Duration
}

// WithDefaults fills the zero durations with the defaults (Retries is
// kept: zero means no retry).
func (p Policy) WithDefaults() Policy {
	if p.Base <= 0 {
		p.Base = DefaultBase
	}
	if p.Cap <= 0 {
		p.Cap = DefaultCap
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return p
}

// Delay is how long to wait before the next try when used tries have been
// spent. A server's Retry-After (has) is followed, clamped to
// MaxRetryAfter, with up to a quarter added at random so that many
// clients told the same instant do not all come back at once; otherwise
// the backoff is exponential with full jitter in [d/2, d].
func (p Policy) Delay(used int, retryAfter time.Duration, has bool) time.Duration {
	if has {
		d := min(retryAfter, p.MaxRetryAfter)
		return min(d+rand.N(d/4+50*time.Millisecond), p.MaxRetryAfter)
	}
	d := p.Base << min(used, 20)
	if d > p.Cap || d <= 0 {
		d = p.Cap
	}
	return d/2 + rand.N(d/2+1)
}

// TransientStatus reports whether an HTTP status is worth another try at
// the same server: a timeout, "too early", throttling, or a server error
// other than "not implemented" and "version not supported".
func TransientStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		return true
	case code >= 500 && code != http.StatusNotImplemented && code != http.StatusHTTPVersionNotSupported:
		return true
	}
	return false
}

// Beyond is what a Retry-After of more than a day reads as (a number of
// seconds too large for any integer among them): a wait beyond every cap,
// which Describe names "more than 24h".
const Beyond = 24*time.Hour + time.Second

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (a date in the past means now); more than a day is Beyond. ok is false
// when there is none to read (a negative number is none).
func ParseRetryAfter(h string, now time.Time) (d time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if digits(h) {
		s, err := strconv.ParseInt(h, 10, 64)
		if err != nil || s > 86400 {
			return Beyond, true // only overflow fails on digits
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(t.Sub(now), 0), Beyond), true
	}
	return 0, false
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Describe names a wait a server asked for: to the second, or "more than
// 24h" beyond a day.
func Describe(d time.Duration) string {
	if d > 24*time.Hour {
		return "more than 24h"
	}
	if d >= time.Second {
		d = d.Round(time.Second)
	}
	return d.String()
}

// Sleep waits d, or until ctx is done (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
