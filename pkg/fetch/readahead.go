package fetch

import (
	"context"
	"sync"
	"time"
)

// readahead paces the requests of one ranged download by its reader. The
// chunks asked for and not yet read are enough when the reader will take
// longer to read them than a new chunk takes to arrive; asking for more
// then would only park bytes in memory, holding buffer tokens and
// connection slots that other files could use (a bzip2 file decoding on
// busy cores next to plain files that the network limits). Until a chunk
// has been fetched and one read, nothing is held back.
type readahead struct {
	mu       sync.Mutex
	asked    int64         // chunks asked for
	next     int64         // the next chunk the reader takes
	fetch    time.Duration // a chunk's time from request to complete (average)
	use      time.Duration // the reader's time on one chunk (average)
	took     time.Time     // when the reader took its current chunk
	consumed chan struct{} // the reader took a chunk
}

func newReadahead() *readahead {
	return &readahead{consumed: make(chan struct{}, 1)}
}

// ewma moves avg a quarter of the way to d (to d itself the first time).
func ewma(avg, d time.Duration) time.Duration {
	if avg == 0 {
		return d
	}
	return avg + (d-avg)/4
}

// ask records that chunk i is being asked for.
func (a *readahead) ask(i int64) {
	a.mu.Lock()
	a.asked = max(a.asked, i+1)
	a.mu.Unlock()
}

// fetched records a chunk complete d after it was asked for.
func (a *readahead) fetched(d time.Duration) {
	a.mu.Lock()
	a.fetch = ewma(a.fetch, d)
	a.mu.Unlock()
}

// taken records that the reader took chunk i.
func (a *readahead) taken(i int64) {
	a.mu.Lock()
	a.next = i + 1
	a.took = time.Now()
	a.mu.Unlock()
	select {
	case a.consumed <- struct{}{}:
	default:
	}
}

// ready records that the chunk the reader took, which was still coming,
// is all there: the reader's own time on it starts now, not at the take
// (the time it waited for the network is no part of its pace).
func (a *readahead) ready() {
	a.mu.Lock()
	a.took = time.Now()
	a.mu.Unlock()
}

// read records that the reader is done with the chunk it took.
func (a *readahead) read() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.took.IsZero() {
		a.use = ewma(a.use, time.Since(a.took))
	}
}

// enough reports whether the chunks asked for and not yet taken will keep
// the reader busy for longer than two more chunks take to come (one
// fetch of margin: a chunk that queues for a connection, or a slow one,
// must not leave the reader waiting; a starved bzip2 decoder is the run's
// critical path).
func (a *readahead) enough() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.asked - a.next
	return n >= 2 && a.use > 0 && time.Duration(n)*a.use > 2*a.fetch+a.use
}

// wait returns once another chunk is worth asking for; false when ctx ends.
func (a *readahead) wait(ctx context.Context) bool {
	for a.enough() {
		select {
		case <-a.consumed:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
