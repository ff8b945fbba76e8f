package lock

import (
	"context"
	"errors"
	"slices"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Resolver resolves a moving reference (a branch, a tag) to the immutable
// target lock pins it to: a commit for hf:// (fetch.Fetcher.HubRevision).
type Resolver interface {
	Resolve(ctx context.Context, r *manifest.Ref) (string, error)
}

// Hub is what HubProber asks the Hub (fetch.Fetcher).
type Hub interface {
	HubRevision(ctx context.Context, r *manifest.Ref) (string, error)
	HubFileMeta(ctx context.Context, r *manifest.Ref) (fetch.HubMeta, error)
}

// HubProber records an hf:// file stored with LFS or Xet from the Hub's
// metadata (its sha256 and size, at the pinned commit), without a GET of
// its bytes; every other source, a file stored in git (which has only a
// git sha1), and every source when Download is set, are probed by Next.
// What is recorded from metadata is enforced on the bytes at fetch like
// any other value: a Hub that lies fails the fetch, nothing installed.
type HubProber struct {
	Next Prober
	Hub  Hub
	// Download probes every source by downloading it, trusting no metadata.
	Download bool
}

// Probe implements Prober.
func (h HubProber) Probe(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (fetch.Probe, error) {
	if h.Download || src.Ref == nil || src.Ref.Scheme != manifest.SchemeHF || src.Compression != decompress.None {
		return h.Next.Probe(ctx, m, src, limit)
	}
	name := redact.URL(src.Parsed)
	meta, err := h.Hub.HubFileMeta(ctx, src.Ref)
	var he *fetch.HubError
	if errors.As(err, &he) {
		he.Model = m.Name // its hint names the model
	}
	if err != nil {
		return fetch.Probe{Source: name}, &fetch.SourceError{Source: name, Kind: fetch.KindNetwork, Err: err}
	}
	if meta.SHA256.IsZero() {
		return h.Next.Probe(ctx, m, src, limit) // stored in git: hashed by download
	}
	if limit > 0 && meta.Size > limit {
		return fetch.Probe{Source: name}, &fetch.SourceError{Source: name, Kind: fetch.KindIntegrity,
			Err: &digest.SizeError{Got: meta.Size, Want: limit, Over: true}}
	}
	return fetch.Probe{Source: name, Format: decompress.None, Installed: meta.SHA256, InstalledSize: meta.Size,
		Served: meta.SHA256, ServedSize: meta.Size}, nil
}

// Resolve implements Resolver.
func (h HubProber) Resolve(ctx context.Context, r *manifest.Ref) (string, error) {
	if r.Scheme != manifest.SchemeHF {
		return "", errors.New(r.Scheme + ":// references cannot be pinned by this build")
	}
	return h.Hub.HubRevision(ctx, r)
}

// movingSources returns, for each moving reference of m's sources in file
// order, the first source that names it.
func movingSources(m *manifest.Model) (keys []string, first map[string]*manifest.Source) {
	first = map[string]*manifest.Source{}
	for _, s := range m.Sources {
		if s.Ref == nil || s.Ref.Key() == "" {
			continue
		}
		if _, ok := first[s.Ref.Key()]; !ok {
			keys = append(keys, s.Ref.Key())
			first[s.Ref.Key()] = s
		}
	}
	return keys, first
}

// pinned reports whether every moving reference of m has its pin.
func pinned(m *manifest.Model) bool {
	keys, _ := movingSources(m)
	for _, k := range keys {
		if m.Pins[k] == "" {
			return false
		}
	}
	return true
}

// incompletePins reports the moving references of m without a pin.
func (r *Report) incompletePins(m *manifest.Model) {
	keys, first := movingSources(m)
	for _, k := range keys {
		if m.Pins[k] == "" {
			r.Findings = append(r.Findings, Finding{Model: m.Name, Source: redact.URL(first[k].Parsed), Kind: Incomplete, Key: "pin of " + k})
		}
	}
}

// pin resolves the moving references of m that have no pin (every one, when
// m is being updated), gives m's sources their pins, and records the pins
// edit. It returns false when a reference could not be resolved: then
// nothing of m is recorded (what its sources serve would be read from a
// moving name).
func (r *Report) pin(ctx context.Context, res Resolver, m *manifest.Model, update bool) (bool, error) {
	keys, first := movingSources(m)
	if len(keys) == 0 || res == nil {
		return true, nil
	}
	pins := map[string]string{}
	for k, v := range m.Pins {
		pins[k] = v
	}
	changed := false
	for _, k := range keys {
		old := pins[k]
		if old != "" && !update {
			continue
		}
		target, err := res.Resolve(ctx, first[k].Ref)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			r.Findings = append(r.Findings, Finding{Model: m.Name, Source: redact.URL(first[k].Parsed), Kind: Unreachable, Err: err})
			return false, nil
		}
		if old != "" && old != target {
			r.Findings = append(r.Findings, Finding{Model: m.Name, Source: k, Kind: Changed, Key: "pin", Old: old, New: target})
		}
		changed = changed || old != target
		pins[k] = target
		for _, s := range m.Sources {
			if s.Ref != nil && s.Ref.Key() == k {
				s.Ref.Pin = target
			}
		}
	}
	if changed {
		var list manifest.Pins
		for k, v := range pins {
			list = append(list, manifest.Pin{Key: k, Value: v})
		}
		r.Edits = append(r.Edits, manifest.Edit{Model: m.Name, Source: -1, Key: manifest.KeyPins, Value: list})
	}
	return true, nil
}

// keepPinIfRead drops the pins edit of m made since edits (and its pin
// findings since findings) unless m's values were all read at those pins:
// a pin is written only beside hashes that describe the commit it names.
// Any finding of m's sources (a value kept, a source unreachable, too
// large or disagreeing) means they were not, and the pins stay as they are.
func (r *Report) keepPinIfRead(m *manifest.Model, edits, findings int) {
	read := slices.Contains(r.Locked, m.Name)
	for _, f := range r.Findings[findings:] {
		if f.Model == m.Name && (f.Kind != Changed || f.Kept) {
			read = false
		}
	}
	if read {
		return
	}
	kept := r.Edits[:edits]
	for _, e := range r.Edits[edits:] {
		if e.Model != m.Name || e.Key != manifest.KeyPins {
			kept = append(kept, e)
		}
	}
	r.Edits = kept
	tail := slices.DeleteFunc(slices.Clone(r.Findings[findings:]), func(f Finding) bool {
		return f.Model == m.Name && f.Kind == Changed && f.Key == "pin"
	})
	r.Findings = append(r.Findings[:findings], tail...)
}
