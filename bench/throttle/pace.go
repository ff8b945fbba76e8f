package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// burstTime is all the credit a bucket keeps: enough to absorb the lateness
// of time.Sleep, far too little to let an idle connection start with a burst.
const burstTime = 10 * time.Millisecond

// writeChunk is the most a paced connection writes at once: one TLS record.
const writeChunk = 16 << 10

// bucket is a token bucket counted in bytes. It starts empty and holds at
// most rate × burstTime, so a connection that waited gets no head start.
// Reservations may run ahead of the clock, which queues concurrent writers
// (the connections under one link cap) in the order they asked.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	max    float64 // bytes
	tokens float64 // negative: reserved beyond what has accrued
	last   time.Time
}

func newBucket(rate int64, now time.Time) *bucket {
	return &bucket{rate: float64(rate), max: float64(rate) * burstTime.Seconds(), last: now}
}

// take reserves n bytes at now and returns how long to wait before sending them.
func (b *bucket) take(n int, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.max, b.tokens+b.rate*now.Sub(b.last).Seconds())
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	wait := time.Duration(-b.tokens * float64(time.Second) / b.rate)
	b.tokens = 0
	b.last = now.Add(wait)
	return wait
}

// pacedListener paces every accepted TCP connection on its own bucket of
// rate bytes/s, and all of them together on link (nil: no link cap). It sits
// under TLS, so the HTTP/2 streams of one connection share its rate as they
// do behind a CDN that limits each connection.
type pacedListener struct {
	net.Listener
	rate     int64 // per connection; 0: none
	link     *bucket
	accepted atomic.Int64
}

func (l *pacedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	pc := &pacedConn{Conn: c, link: l.link}
	if l.rate > 0 {
		pc.own = newBucket(l.rate, time.Now())
	}
	return pc, nil
}

// pacedConn paces writes; reads (the requests) go at full speed.
type pacedConn struct {
	net.Conn
	own  *bucket // nil: no per-connection limit
	link *bucket // nil: no link cap
}

func (c *pacedConn) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := min(len(p)-n, writeChunk)
		if c.own != nil {
			time.Sleep(c.own.take(m, time.Now()))
		}
		if c.link != nil {
			time.Sleep(c.link.take(m, time.Now()))
		}
		w, err := c.Conn.Write(p[n : n+m])
		n += w
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
