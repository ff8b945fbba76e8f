package fetch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/djok/modelfetch/pkg/manifest"
)

// Warm downloads into the cache the models it does not hold yet.
func (f *Fetcher) Warm(ctx context.Context, models []*manifest.Model) []Result {
	base := func(i int) Result {
		return Result{Name: models[i].Name, Size: models[i].Size, Digest: models[i].SHA256}
	}
	if f.o.Cache != nil {
		_, _ = f.o.Cache.RemoveStaleTemps()
	}
	return each(ctx, f.o.Jobs, len(models), base, func(i int) Result { return f.warm(ctx, models[i]) })
}

func (f *Fetcher) warm(ctx context.Context, m *manifest.Model) (r Result) {
	start := time.Now()
	r = Result{Name: m.Name, Size: m.Size, Digest: m.SHA256}
	f.obs.Start(m.Name, m.Size)
	defer func() {
		r.Duration = time.Since(start)
		f.obs.Done(r)
	}()
	fail := func(kind Kind, err error) Result { return failed(ctx, &r, kind, err) }
	c := f.o.Cache
	if c == nil {
		return fail(KindLocal, errors.New("no cache to warm"))
	}
	if f.present(ctx, m) {
		r.Status, r.Source = StatusPresent, "cache"
		return r
	}
	if ctx.Err() != nil {
		return fail(KindCanceled, ctx.Err())
	}
	if f.o.Offline && !f.hasLocalSource(m) {
		return fail(KindNetwork, fmt.Errorf("not in the cache (sha256 %s) and offline", m.SHA256.Short()))
	}
	unlock, err := c.Claim(ctx, m.SHA256)
	if err != nil {
		if ctx.Err() != nil {
			return fail(KindCanceled, ctx.Err())
		}
		return fail(KindLocal, fmt.Errorf("cache: %w", err))
	}
	defer unlock()
	if f.present(ctx, m) {
		r.Status, r.Source = StatusPresent, "cache"
		return r
	}
	cw, err := c.Create()
	if err != nil {
		return fail(KindLocal, fmt.Errorf("cache: %w", err))
	}
	cs := &cacheSink{w: cw}
	defer cs.abort()
	if err := f.download(ctx, m, nil, cs, &r); err != nil {
		return fail(KindNetwork, err)
	}
	if cs.err == nil {
		cs.err = cw.Commit(m.SHA256)
	}
	if cs.err != nil {
		return fail(KindLocal, fmt.Errorf("cache: %w", cs.err))
	}
	r.Status = StatusWarmed
	return r
}

// present reports whether the cache holds m's blob, verified. Only proof of
// bad bytes removes a blob (cache.Check): never a cancellation (Ctrl-C
// during `cache warm`) or an I/O error.
func (f *Fetcher) present(ctx context.Context, m *manifest.Model) bool {
	ok, _ := f.o.Cache.Check(ctx, m.SHA256, m.Size)
	return ok
}
