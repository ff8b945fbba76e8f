package fetch

import (
	"context"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Probe is what a source serves, measured without expectations.
type Probe struct {
	Source string // redacted URL
	// Format is the compression the bytes were decoded from.
	Format decompress.Format
	// Installed and InstalledSize describe the decoded bytes; Served and
	// ServedSize the bytes as served.
	Installed     digest.Digest
	InstalledSize int64
	Served        digest.Digest
	ServedSize    int64
	// Described: the values are the source's metadata (a raw layer's
	// descriptor); nothing was downloaded. Fetch enforces them on the bytes.
	Described bool
}

// Probe downloads src through the pipeline (retries, resume, decompression)
// without checking digests or sizes, and reports what it delivered: this is
// how `lock` learns the values to record. Decoding stops at limit installed
// bytes (limit <= 0: the model's declared size; lock always gives one), and
// going past it is an integrity failure (*digest.SizeError, Over). With a cache, the decoded bytes are stored under their
// digest, so a later fetch needs no network. The error is a *SourceError.
func (f *Fetcher) Probe(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (Probe, error) {
	// The partial blobs killed runs (a lock as well as a fetch) left in the
	// cache's temp folder go before the first probe fills it, as Install
	// and Warm sweep it.
	f.swept.Do(func() {
		if f.o.Cache != nil {
			_, _ = f.o.Cache.RemoveStaleTemps()
		}
	})
	if isOCI(src) {
		return f.probeOCI(ctx, m, src, limit)
	}
	return f.probeStream(ctx, m, src, limit)
}

// probeStream is Probe through the pipeline.
func (f *Fetcher) probeStream(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (Probe, error) {
	name := redact.URL(src.Parsed)
	if isOCI(src) {
		src = ociServed(src)
	}
	mm, ss := *m, *src
	mm.SHA256, mm.Size = digest.Digest{}, -1
	if limit <= 0 {
		limit = m.Size
	}
	ss.SHA256, ss.Size = digest.Digest{}, -1
	fail := func(err error) (Probe, error) { return probeFailed(ctx, name, err) }
	var r Result
	cs := f.cacheSink(&r)
	defer cs.abort()
	var sinks []sink
	if cs != nil {
		sinks = append(sinks, cs)
	}
	if err := f.dead.check(f.dialURL(src)); err != nil {
		return fail(err)
	}
	// An unreachable host is reported at once: lock is run by a person,
	// and the url rules' next candidate may be waiting. A long Retry-After
	// is waited at the cap: lock reads every source, so none stands in.
	res, err := f.fetchSource(ctx, &mm, &ss, sinks, sourceOptions{hashServed: true, limit: limit, leaveUnreachable: true})
	if err != nil {
		f.dead.mark(f.dialURL(src), err)
		return fail(err)
	}
	p := res.pass
	cs.commit(p.installed, &r)
	return Probe{Source: name, Format: p.format, Installed: p.installed, InstalledSize: p.installedSize,
		Served: p.served, ServedSize: p.servedSize}, nil
}

// probeFailed is a probe of the source name that failed with err, classified:
// cancelled (with the run's cause), this machine's fault, integrity, else
// the network.
func probeFailed(ctx context.Context, name string, err error) (Probe, error) {
	kind := KindNetwork
	switch {
	case ctx.Err() != nil:
		kind, err = KindCanceled, context.Cause(ctx)
	case isLocal(err):
		kind = KindLocal
	case isIntegrity(err):
		kind = KindIntegrity
	}
	return Probe{Source: name}, &SourceError{Source: name, Kind: kind, Err: err}
}
