package lock

import (
	"errors"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Pins (DESIGN.md, "Sources beyond URLs"): a source that names a moving
// reference (an oci tag, a hub branch) is pinned by lock to the immutable
// target it resolved to, under the model's pins; a fetch then reads the
// target, never the moving name. The human's name is never rewritten:
// --update resolves it again and moves the pin, with the hashes.

// BadReference reports whether err says that a source names something that
// can never be fetched as it is written (a registry index, which has one
// manifest per platform or variant): the manifest is to be mended.
func BadReference(err error) bool {
	var b interface{ BadReference() bool }
	return errors.As(err, &b) && b.BadReference()
}

// unpin clears the pins of m's sources, so that probing them resolves the
// moving names again (the url rules' candidates share the Ref, so they are
// unpinned with them). m.Pins is kept: it is what a moved pin is told from.
func unpin(m *manifest.Model) {
	for _, s := range m.Sources {
		if s.Ref != nil {
			s.Ref.Pin = ""
		}
	}
}

// unpinned reports whether a source of m names a moving reference that the
// model's pins do not pin.
func unpinned(m *manifest.Model) bool {
	for _, s := range m.Sources {
		if s.Ref != nil && s.Ref.Key() != "" && s.Ref.Pin == "" {
			return true
		}
	}
	return false
}

// incompletePins reports the moving references of m that have no pin.
func (r *Report) incompletePins(m *manifest.Model) {
	for _, s := range m.Sources {
		if s.Ref != nil && s.Ref.Key() != "" && s.Ref.Pin == "" {
			r.Findings = append(r.Findings, Finding{Model: m.Name, Source: redact.URL(s.Parsed), Kind: Incomplete, Key: "pin"})
		}
	}
}

// recordPins records the pins the probes found, over the model's own: a
// missing pin is an edit; a pin that moved (only when updating: otherwise
// the probe read the pinned target) is a finding, and an edit unless
// checking.
func (r *Report) recordPins(m *manifest.Model, got []probed, check bool) {
	pins := map[string]string{}
	for k, v := range m.Pins {
		pins[k] = v
	}
	changed := false
	for _, g := range got {
		p := g.p.Pin
		if p.Key == "" || p.Value == "" || pins[p.Key] == p.Value {
			continue
		}
		if old, had := pins[p.Key]; had {
			r.Findings = append(r.Findings, Finding{Model: m.Name, Source: g.p.Source, Kind: Changed, Key: "pin", Old: old, New: p.Value, Kept: check})
		}
		if !check {
			pins[p.Key] = p.Value
			changed = true
		}
	}
	if !changed {
		return
	}
	var list manifest.Pins
	for k, v := range pins {
		list = append(list, manifest.Pin{Key: k, Value: v})
	}
	r.Edits = append(r.Edits, manifest.Edit{Model: m.Name, Source: -1, Key: manifest.KeyPins, Value: list})
}
