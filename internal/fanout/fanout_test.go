package fanout

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// peak runs Map over n indexes whose calls each hold their slot for a
// moment and returns the most calls that were ever running at once.
func peak(t *testing.T, jobs, n int) int {
	t.Helper()
	var now, most atomic.Int32
	_, ran := Map(context.Background(), jobs, n, func(int) struct{} {
		c := now.Add(1)
		for {
			m := most.Load()
			if c <= m || most.CompareAndSwap(m, c) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		now.Add(-1)
		return struct{}{}
	})
	for i, r := range ran {
		require.True(t, r, "index %d", i)
	}
	return int(most.Load())
}

func TestNeverMoreThanJobsAtOnce(t *testing.T) {
	for _, jobs := range []int{1, 2, 3, 8} {
		assert.LessOrEqual(t, peak(t, jobs, 24), jobs, "jobs=%d", jobs)
	}
}

func TestJobsBelowOneMeansOne(t *testing.T) {
	assert.Equal(t, 1, peak(t, 0, 10))
	assert.Equal(t, 1, peak(t, -3, 10))
}

// TestAllJobsDoRunAtOnce shows the bound is not also a floor of one: with
// jobs slots, jobs calls that each wait for all the others do all start.
func TestAllJobsDoRunAtOnce(t *testing.T) {
	const jobs = 4
	var all sync.WaitGroup
	all.Add(jobs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Map(context.Background(), jobs, jobs, func(int) int {
			all.Done()
			all.Wait()
			return 0
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the calls never ran all at once")
	}
}

func TestResultsInIndexOrder(t *testing.T) {
	const n = 50
	// Later indexes finish first, so the order of completion is not the
	// order of the indexes.
	out, ran := Map(context.Background(), 8, n, func(i int) int {
		time.Sleep(time.Duration(n-i) * 50 * time.Microsecond)
		return i * i
	})
	require.Len(t, out, n)
	for i := range n {
		assert.Equal(t, i*i, out[i])
		assert.True(t, ran[i])
	}
}

func TestNothingStartsOnceCtxIsDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int32
	out, ran := Map(ctx, 4, 20, func(int) int { calls.Add(1); return 1 })
	assert.Zero(t, calls.Load())
	for i := range out {
		assert.False(t, ran[i], "index %d", i)
		assert.Zero(t, out[i], "index %d", i)
	}
}

// TestCancelledMidwaySkipsTheRest: with one slot, the call that cancels ctx
// is the last one to run; every index after it is skipped.
func TestCancelledMidwaySkipsTheRest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	out, ran := Map(ctx, 1, 30, func(i int) int {
		if calls.Add(1) == 3 {
			cancel()
		}
		return i + 1
	})
	assert.EqualValues(t, 3, calls.Load())
	n := 0
	for i := range out {
		if ran[i] {
			n++
			assert.Equal(t, i+1, out[i])
		} else {
			assert.Zero(t, out[i])
		}
	}
	assert.Equal(t, 3, n)
}

func TestStartedCallsAreWaitedFor(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var started, finished atomic.Int32
	Map(ctx, 3, 9, func(int) int {
		started.Add(1)
		cancel()
		time.Sleep(5 * time.Millisecond)
		finished.Add(1)
		return 0
	})
	// Whatever started has finished by the time Map returns.
	assert.GreaterOrEqual(t, started.Load(), int32(1))
	assert.Equal(t, started.Load(), finished.Load())
}

func TestNoIndexes(t *testing.T) {
	out, ran := Map(context.Background(), 2, 0, func(int) int { t.Fatal("called"); return 0 })
	assert.Empty(t, out)
	assert.Empty(t, ran)
}

// Indexes start in index order, so the caller's order of the list is the
// order work starts in: with one slot, exactly that order; with several,
// each freed slot goes to the lowest index not yet started.
func TestIndexesStartInOrder(t *testing.T) {
	for _, jobs := range []int{1, 3} {
		var mu sync.Mutex
		var started []int
		Map(context.Background(), jobs, 20, func(i int) int {
			mu.Lock()
			started = append(started, i)
			mu.Unlock()
			time.Sleep(time.Duration(20-i) * 100 * time.Microsecond) // later ones end sooner
			return i
		})
		if jobs == 1 {
			for i, got := range started {
				assert.Equal(t, i, got, "with one slot, the list's order")
			}
			continue
		}
		// A call starts only once every index before it has started (the
		// first jobs at once may be logged in any order among themselves).
		for k, got := range started {
			assert.Less(t, got, k+jobs, "index %d started %dth", got, k)
		}
	}
}
