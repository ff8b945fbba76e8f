package manifest

import (
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/djok/modelfetch/pkg/decompress"

	"github.com/djok/modelfetch/internal/redact"
)

// Pin is one entry of a model's pins: a moving reference (Ref.Key) and the
// immutable target lock resolved it to.
type Pin struct{ Key, Value string }

// Pins is a model's pins, the value of an Edit of key "pins". It is written
// as one inline table, sorted by key.
type Pins []Pin

// String renders ps as the TOML inline table lock writes:
// { "hf://org/repo@main" = "8a7c…" }.
func (ps Pins) String() string {
	s := append(Pins{}, ps...)
	sort.Slice(s, func(i, j int) bool { return s[i].Key < s[j].Key })
	parts := make([]string, len(s))
	for i, p := range s {
		parts[i] = strconv.Quote(p.Key) + " = " + strconv.Quote(p.Value)
	}
	if len(parts) == 0 {
		return "{}"
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// PinList returns the model's pins sorted by key.
func (m *Model) PinList() Pins {
	var ps Pins
	for k, v := range m.Pins {
		ps = append(ps, Pin{k, v})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Key < ps[j].Key })
	return ps
}

// setURL parses a source's URL: a hub or registry reference (s.Ref set, and
// s.Parsed as the URL parser reads it, for display), or a plain URL.
func (p *parser) setURL(s *Source, key, baseDir string) {
	if !IsRef(s.URL) {
		s.Parsed = p.url(key, baseDir, s.URL)
		return
	}
	r, err := ParseRef(s.URL)
	if err != nil {
		var re *RefError
		msg := err.Error()
		if errors.As(err, &re) {
			msg = re.Msg
		}
		p.errf(key, refHint(s.URL), "bad reference %q: %s", redact.String(s.URL), msg)
		return
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		u = &url.URL{Scheme: r.Scheme, Opaque: s.URL[len(r.Scheme)+1:]}
	}
	u.Scheme = r.Scheme
	s.Parsed, s.Ref = u, r
	if r.Scheme == SchemeHF {
		// The Hub serves a file as it is stored, and installs it so
		// (as hf_hub_download does): a [[sources]] table may say otherwise.
		s.Compression = decompress.None
	}
}

func refHint(raw string) string {
	if strings.HasPrefix(strings.ToLower(raw), "hf://") {
		return "the form is hf://[datasets/|spaces/]ORG/REPO[@REV]/PATH"
	}
	return "the form is oci://REGISTRY/REPO(:TAG|@sha256:HEX)#PATH"
}

// pins checks the model's pins against its sources and gives each source
// the pin of its moving reference.
func (p *parser) pins(key string, mod *Model, raw map[string]string) {
	if raw == nil {
		return
	}
	mod.Pins = map[string]string{}
	moving := map[string][]*Source{}
	for _, s := range mod.Sources {
		if s.Ref != nil && s.Ref.Key() != "" {
			moving[s.Ref.Key()] = append(moving[s.Ref.Key()], s)
		}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := p.pos.line(key+".pins."+keys[i]), p.pos.line(key+".pins."+keys[j])
		return li < lj || li == lj && keys[i] < keys[j]
	})
	for _, k := range keys {
		pk, v := key+".pins."+k, raw[k]
		srcs, ok := moving[k]
		if !ok {
			p.errf(pk, stalePinHint(k, moving), "pin %q: no source of this model has that moving reference", k)
			continue
		}
		if !srcs[0].Ref.ValidPin(v) {
			want := "a 40-hex lowercase commit"
			if srcs[0].Ref.Scheme != SchemeHF {
				want = "sha256: and 64 lowercase hex"
			}
			p.errf(pk, "", "pin %q = %q: want %s", k, v, want)
			continue
		}
		mod.Pins[k] = v
		for _, s := range srcs {
			s.Ref.Pin = v
		}
	}
}

// stalePinHint says how to mend a pins key that pins no source: the
// canonical spelling when it names a source in another form, else to
// remove it.
func stalePinHint(k string, moving map[string][]*Source) string {
	if r, err := ParseRepoRef(k); err == nil {
		if _, ok := moving[r.Key()]; ok {
			return "write it as " + strconv.Quote(r.Key())
		}
	}
	return "remove it (pins are written by `modelfetch lock`), then run `modelfetch lock`"
}

// pinsLayout refuses pins written in any form but the one lock edits: one
// inline table on the model's own line, pins = { "REF" = "COMMIT" }. A
// string would be ignored, and a [models.NAME.pins] table or dotted keys
// could not be moved by lock --update.
func (p *parser) pinsLayout(d *doc) {
	const hint = `write pins = { "hf://ORG/REPO@REV" = "COMMIT" } (as lock writes them), or remove it and run ` + "`modelfetch lock`"
	for _, t := range d.tables {
		if len(t.parts) == 3 && t.parts[0] == "models" && t.parts[2] == "pins" {
			p.errs.add(&Error{File: p.file, Line: d.line(t.headerEnd), Key: t.path, Msg: "want one inline table, not a [" + t.path + "] table", Hint: hint})
			continue
		}
		if len(t.parts) != 2 || t.parts[0] != "models" || t.index >= 0 {
			continue
		}
		for _, kv := range t.kvs {
			key := t.path + "." + kv.key
			switch {
			case strings.HasPrefix(kv.key, "pins."):
				p.errs.add(&Error{File: p.file, Line: d.line(kv.lineStart), Key: t.path + ".pins", Msg: "want one inline table, not dotted keys", Hint: hint})
			case kv.key == "pins" && kv.val != nil && kv.val.kind != '{':
				p.errs.add(&Error{File: p.file, Line: d.line(kv.lineStart), Key: key, Msg: "want an inline table of moving reference = commit", Hint: hint})
			}
		}
	}
}
