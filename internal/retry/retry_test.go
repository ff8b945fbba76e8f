package retry

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDelay(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Cap: time.Second, MaxRetryAfter: 5 * time.Second}
	for range 200 {
		d := p.Delay(0, 0, false)
		assert.True(t, d >= 50*time.Millisecond && d <= 100*time.Millisecond, "%v", d)
		d = p.Delay(30, 0, false)
		assert.True(t, d >= 500*time.Millisecond && d <= time.Second, "capped: %v", d)
		d = p.Delay(0, 2*time.Second, true)
		assert.True(t, d >= 2*time.Second && d <= 2550*time.Millisecond, "Retry-After, with a little added: %v", d)
		assert.Equal(t, 5*time.Second, p.Delay(0, time.Hour, true), "Retry-After clamped")
	}
	assert.Equal(t, Policy{Base: DefaultBase, Cap: DefaultCap, MaxRetryAfter: DefaultMaxRetryAfter}, Policy{}.WithDefaults())
}

func TestTransientStatus(t *testing.T) {
	for code, want := range map[int]bool{408: true, 425: true, 429: true, 500: true, 502: true, 503: true, 504: true,
		501: false, 505: false, 400: false, 401: false, 403: false, 404: false, 200: false} {
		assert.Equal(t, want, TransientStatus(code), "%d", code)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d, ok := ParseRetryAfter(" 7 ", now)
	assert.True(t, ok)
	assert.Equal(t, 7*time.Second, d)
	d, _ = ParseRetryAfter("86400", now)
	assert.Equal(t, 24*time.Hour, d)
	for _, h := range []string{"999999999", "10000000000", "999999999999999999999999"} {
		d, ok = ParseRetryAfter(h, now)
		assert.True(t, ok, "an overflowing value is beyond the cap, not absent: %s", h)
		assert.Equal(t, Beyond, d, h)
		assert.Equal(t, "more than 24h", Describe(d), h)
	}
	d, ok = ParseRetryAfter("Thu, 01 Jan 2099 00:00:00 GMT", now)
	assert.True(t, ok)
	assert.Equal(t, "more than 24h", Describe(d))
	d, _ = ParseRetryAfter(now.Add(90*time.Minute+300*time.Millisecond).Format(http.TimeFormat), now.Add(-time.Second/3))
	assert.Equal(t, "1h30m0s", Describe(d), "rounded to the second")
	d, ok = ParseRetryAfter(now.Add(time.Minute).Format(http.TimeFormat), now)
	assert.True(t, ok)
	assert.Equal(t, time.Minute, d)
	for _, h := range []string{"", "-1", "-5", "-99999999999999999999", "soon"} {
		_, ok = ParseRetryAfter(h, now)
		assert.False(t, ok, h)
	}
}

func TestSleepCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	assert.ErrorIs(t, Sleep(ctx, time.Hour), context.Canceled)
	assert.Less(t, time.Since(start), time.Second)
}
