package lock

import (
	"fmt"
	"slices"

	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/rules"
)

// Select returns the models a lock of m checks, and the Options that say
// which the user asked for: the names, and the models of update (a model to
// update is a model to check); with updateAll every model is asked for.
// Without any, every model is selected and Run reads those that lack a
// value. The other fields of Options are the caller's to set. The error is
// an *UnknownModelError for a model to update that m lacks, else
// manifest.Select's for a name.
func Select(m *manifest.Manifest, names, update []string, updateAll bool) ([]*manifest.Model, Options, error) {
	o := Options{Named: map[string]bool{}, Update: map[string]bool{}, UpdateAll: updateAll}
	names = slices.Clone(names)
	for _, u := range update {
		if m.Model(u) == nil {
			return nil, o, &UnknownModelError{Name: u, File: m.File}
		}
		o.Update[u] = true
		if !slices.Contains(names, u) {
			names = append(names, u)
		}
	}
	models, err := m.Select(names)
	if err != nil {
		return nil, o, err
	}
	for _, mod := range models {
		o.Named[mod.Name] = len(names) > 0 || updateAll
	}
	return models, o, nil
}

// UnknownModelError is a model to update that the manifest does not have.
type UnknownModelError struct{ Name, File string }

func (e *UnknownModelError) Error() string {
	return fmt.Sprintf("%s: no model of that name in %s", e.Name, e.File)
}

// Reads reports whether Run reads m's sources: with Check every complete
// model (an incomplete one is a finding), else a named model or one that
// lacks a value.
func (o Options) Reads(m *manifest.Model) bool {
	if o.Check {
		return complete(m)
	}
	return o.Named[m.Name] || !complete(m)
}

// Blocked returns those of blocked (the models whose every URL the url rules
// block) that Run would read with o: the caller stops before reading
// anything when there are any, as fetch does.
func (o Options) Blocked(models []*manifest.Model, blocked rules.Blocked) rules.Blocked {
	byName := map[string]*manifest.Model{}
	for _, m := range models {
		byName[m.Name] = m
	}
	var out rules.Blocked
	for _, b := range blocked {
		if m := byName[b.Model]; m != nil && o.Reads(m) {
			out = append(out, b)
		}
	}
	return out
}
