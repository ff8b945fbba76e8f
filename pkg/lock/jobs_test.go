package lock

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

// gate is a prober whose probes wait until want of them run at once (or
// wait passes), and that records the most it saw.
type gate struct {
	fake
	want int
	wait time.Duration
	mu   sync.Mutex
	cur  int
	peak int
	all  chan struct{}
	once sync.Once
}

func (g *gate) Probe(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (fetch.Probe, error) {
	g.mu.Lock()
	g.cur++
	g.peak = max(g.peak, g.cur)
	if g.cur == g.want {
		g.once.Do(func() { close(g.all) })
	}
	g.mu.Unlock()
	select {
	case <-g.all:
	case <-time.After(g.wait):
	}
	defer func() { g.mu.Lock(); g.cur--; g.mu.Unlock() }()
	return g.fake.Probe(ctx, m, src, limit)
}

func TestRunReadsJobsModelsAtOnceAndReportsInOrder(t *testing.T) {
	var b strings.Builder
	b.WriteString("version = 1\n")
	f := fake{}
	for i := range 6 {
		fmt.Fprintf(&b, "[models.m%d]\npath = \"m%d\"\nurls = [\"https://h/m%d\"]\n", i, i, i)
		if i != 3 {
			f[fmt.Sprintf("https://h/m%d", i)] = good
		}
	}
	m := parse(t, b.String())
	g := &gate{fake: f, want: 3, wait: time.Second, all: make(chan struct{})}
	start := time.Now()
	r, err := Run(context.Background(), g, m.Models, Options{Jobs: 3})
	require.NoError(t, err)
	assert.Equal(t, 3, g.peak, "three models read at once, never more")
	assert.Less(t, time.Since(start), time.Second, "the first three met at the gate")
	assert.Equal(t, []string{"m0", "m1", "m2", "m4", "m5"}, r.Locked, "in the manifest's order")
	require.Len(t, r.Findings, 1)
	assert.Equal(t, "m3", r.Findings[0].Model)
	require.Len(t, r.Edits, 10)
	for i, e := range r.Edits {
		assert.Equal(t, r.Locked[i/2], e.Model)
	}
}

func TestRunOneByOneByDefault(t *testing.T) {
	m := parse(t, "version = 1\n[models.a]\npath = \"a\"\nurls = [\"https://h/a\"]\n[models.b]\npath = \"b\"\nurls = [\"https://h/b\"]\n")
	g := &gate{fake: fake{"https://h/a": good, "https://h/b": good}, want: 2, wait: 50 * time.Millisecond, all: make(chan struct{})}
	_, err := Run(context.Background(), g, m.Models, Options{})
	require.NoError(t, err)
	assert.Equal(t, 1, g.peak)
}
