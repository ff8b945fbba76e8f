package display

import (
	"context"
	"time"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

// statusDownloaded is what lock's progress says of a source it has read.
const statusDownloaded fetch.Status = "downloaded"

// statusDescribed: lock took a source's values from its metadata (a
// registry's layer descriptor), with no download.
const statusDescribed fetch.Status = "described"

// Prober reads a model's source as lock does (lock.Prober).
type Prober interface {
	Probe(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (fetch.Probe, error)
}

// ShowProbes shows what lock reads through next as fetch shows its
// artifacts: a line (or bar) per source read, on p.
func ShowProbes(next Prober, p *Progress) Prober { return probeProgress{next, p} }

type probeProgress struct {
	f Prober
	p *Progress
}

func (pp probeProgress) Probe(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (fetch.Probe, error) {
	pp.p.Start(m.Name, m.Size)
	start := time.Now()
	r, err := pp.f.Probe(ctx, m, src, limit)
	if err != nil {
		pp.p.Drop(m.Name) // the finding says why, once
		return r, err
	}
	status := statusDownloaded
	if r.Described {
		status = statusDescribed
	}
	pp.p.Done(fetch.Result{Name: m.Name, Status: status, Size: r.InstalledSize, Source: r.Source, Duration: time.Since(start)})
	return r, err
}
