package fetch

import (
	"context"
	"io"
	"sync"
	"time"
)

// speed is the slowest a connection may be (curl's --speed-limit and
// --speed-time): fewer than Min bytes per second over a whole Window gives
// the connection up. A zero Min turns the check off.
type speed struct {
	Min    int64
	Window time.Duration
}

// watchdog cancels one request when it stalls (no byte for idle) or
// trickles (below the minimum rate over a window). It is kicked by every
// read that returns data, so neither check is a deadline on a long, healthy
// download.
type watchdog struct {
	mu     sync.Mutex
	idle   time.Duration
	speed  speed
	cancel context.CancelFunc
	t, w   *time.Timer
	got    int64 // bytes in the current window
	reason error // why it fired; nil while it has not
}

func newWatchdog(idle time.Duration, sp speed, cancel context.CancelFunc) *watchdog {
	d := &watchdog{idle: idle, speed: sp, cancel: cancel}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t = time.AfterFunc(idle, func() { d.fire(&StallError{Idle: idle}) })
	if sp.Min > 0 && sp.Window > 0 {
		d.w = time.AfterFunc(sp.Window, d.endWindow)
	}
	return d
}

func (d *watchdog) fire(reason error) {
	d.mu.Lock()
	if d.reason == nil {
		d.reason = reason
	}
	d.mu.Unlock()
	d.cancel()
}

func (d *watchdog) endWindow() {
	d.mu.Lock()
	got, sp := d.got, d.speed
	d.got = 0
	if d.reason == nil && got >= int64(sp.Window.Seconds()*float64(sp.Min)) {
		d.w.Reset(sp.Window)
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	d.fire(&SlowError{Got: got, Window: sp.Window, Min: sp.Min})
}

// kick records n bytes arriving.
func (d *watchdog) kick(n int) {
	if d == nil || n <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reason == nil {
		d.t.Reset(d.idle)
		d.got += int64(n)
	}
}

// fired returns why the request was cancelled by the watchdog, or nil.
func (d *watchdog) fired() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reason
}

// pause stops both checks while the request waits on something its own
// deadline bounds (a registry's credential helper), and starts them afresh
// when it stops waiting: that wait is not a silent connection.
func (d *watchdog) pause(waiting bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reason != nil {
		return
	}
	if waiting {
		d.t.Stop()
		if d.w != nil {
			d.w.Stop()
		}
		return
	}
	d.t.Reset(d.idle)
	if d.w != nil {
		d.got = 0
		d.w.Reset(d.speed.Window)
	}
}

func (d *watchdog) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t.Stop()
	if d.w != nil {
		d.w.Stop()
	}
}

// watchedBody is a response body under its request's watchdog. Read kicks
// the dog and reports a stall or trickle as such; Close stops the dog,
// cancels the request and gives the host slot back.
type watchedBody struct {
	body    io.ReadCloser
	dog     *watchdog
	ctx     context.Context // the caller's: cancelled means stop, not stalled
	cancel  context.CancelFunc
	release func(ok bool)
	count   func(n int)  // nil: nobody counts the bytes received
	host    *hostLimiter // nil: none counts them against its speed
	once    sync.Once
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.body.Read(p)
	w.dog.kick(n)
	if n > 0 && w.count != nil {
		w.count(n)
	}
	if n > 0 && w.host != nil {
		w.host.recv.Add(int64(n))
	}
	if err != nil && err != io.EOF && w.ctx.Err() == nil {
		if why := w.dog.fired(); why != nil {
			err = why
		}
	}
	return n, err
}

func (w *watchedBody) Close() error {
	var err error
	w.once.Do(func() {
		w.dog.stop()
		err = w.body.Close()
		w.cancel()
		w.release(true)
	})
	return err
}
