package lock

import (
	"context"

	"github.com/djok/modelfetch/internal/fanout"
	"github.com/djok/modelfetch/pkg/manifest"
)

// runJobs runs one for each model, jobs at once (at least one), each into a
// report of its own, and joins them in the order of models: the findings
// and edits come out as a one-by-one run would give them. It stops at the
// first model that fails (ctx cancelled), with the reports of the models
// before it; a model not started by then is not read.
func runJobs(ctx context.Context, models []*manifest.Model, jobs int, one func(r *Report, m *manifest.Model) error) (*Report, error) {
	parts := make([]Report, len(models))
	errs, ran := fanout.Map(ctx, jobs, len(models), func(i int) error {
		return one(&parts[i], models[i])
	})
	r := &Report{}
	for i := range parts {
		if !ran[i] {
			return r, ctx.Err()
		}
		if errs[i] != nil {
			return r, errs[i]
		}
		r.Edits = append(r.Edits, parts[i].Edits...)
		r.Findings = append(r.Findings, parts[i].Findings...)
		r.Locked = append(r.Locked, parts[i].Locked...)
	}
	return r, nil
}
