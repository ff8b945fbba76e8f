package manifest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Edit sets one value in a manifest's text.
type Edit struct {
	Model string
	// Source is -1 for the model's own key, else the index of the source
	// among the model's [[models.NAME.sources]] entries (urls items do not
	// count: they cannot hold keys).
	Source int
	// Key is "sha256", "size" or KeyPins (the model's own only).
	Key string
	// Value is the Go value: a string for sha256, an int64 for size, a
	// Pins for pins.
	Value any
}

// Apply returns src with edits made in place. Everything else — comments,
// blank lines, key order, quoting, indentation — is kept byte for byte: an
// existing value is replaced where it stands, a new key goes on its own line
// beside the keys it belongs with (or, in an inline table, after its last
// key). The result is parsed again before it is returned, so Apply never
// produces a file that does not load.
func Apply(file, baseDir string, src []byte, edits []Edit) ([]byte, error) {
	if _, err := Parse(file, baseDir, src); err != nil {
		return nil, err
	}
	doc, err := parseDoc(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var sp []splice
	// Group edits per target so sha256 and size land together, in that order.
	type target struct {
		model  string
		source int
	}
	groups := map[target][]Edit{}
	var order []target
	for _, e := range edits {
		t := target{e.Model, e.Source}
		if _, ok := groups[t]; !ok {
			order = append(order, t)
		}
		groups[t] = append(groups[t], e)
	}
	for _, t := range order {
		es := groups[t]
		sort.SliceStable(es, func(i, j int) bool { return keyRank(es[i].Key) < keyRank(es[j].Key) })
		s, err := doc.plan(string(src), t.model, t.source, es)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		sp = append(sp, s...)
	}
	out := applySplices(src, sp)
	if len(out) > MaxManifestSize {
		return nil, fmt.Errorf("%s: the edited manifest would be larger than %d bytes (1 MiB); nothing written", file, MaxManifestSize)
	}
	m, err := Parse(file, baseDir, out)
	if err != nil {
		return nil, fmt.Errorf("%s: editing broke the file (a bug; nothing written): %w", file, err)
	}
	for _, e := range edits {
		if !checkEdit(m, e) {
			return nil, fmt.Errorf("%s: models.%s: %s did not take (a bug; nothing written)", file, e.Model, e.Key)
		}
	}
	return out, nil
}

func keyRank(k string) int {
	switch k {
	case "sha256":
		return 0
	case KeyPins:
		return 2
	}
	return 1
}

func checkEdit(m *Manifest, e Edit) bool {
	mod := m.Model(e.Model)
	if mod == nil {
		return false
	}
	if e.Key == KeyPins {
		return checkPinsEdit(mod, e)
	}
	var sha string
	var size int64
	if e.Source < 0 {
		sha, size = mod.SHA256.String(), mod.Size
	} else {
		n := -1
		for _, s := range mod.Sources {
			if s.Table {
				n++
				if n == e.Source {
					sha, size = s.SHA256.String(), s.Size
				}
			}
		}
		if n < e.Source {
			return false
		}
	}
	switch e.Key {
	case "sha256":
		return sha == e.Value
	case "size":
		return size == e.Value
	}
	return false
}

func literal(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int:
		return strconv.Itoa(v), nil
	case Pins:
		return v.String(), nil
	}
	return "", fmt.Errorf("cannot write a %T", v)
}

type splice struct {
	start, end int
	text       string
	seq        int // keeps insertions at one offset in order
}

func applySplices(src []byte, sp []splice) []byte {
	for i := range sp {
		sp[i].seq = i
	}
	sort.SliceStable(sp, func(i, j int) bool {
		if sp[i].start != sp[j].start {
			return sp[i].start > sp[j].start
		}
		return sp[i].seq > sp[j].seq
	})
	out := append([]byte{}, src...)
	for _, s := range sp {
		out = append(out[:s.start], append([]byte(s.text), out[s.end:]...)...)
	}
	return out
}

// plan turns the edits of one table (a model, or one of its sources) into splices.
func (d *doc) plan(src, model string, source int, es []Edit) ([]splice, error) {
	name := "models." + model
	if source < 0 {
		t := d.table(name, -1)
		if t == nil {
			return nil, fmt.Errorf("%s: cannot edit a model that is not written as a [%s] table", name, name)
		}
		return planTable(src, t.kvs, t.headerEnd, es, []string{"path", "dir"})
	}
	if t := d.table(name+".sources", source); t != nil {
		return planTable(src, t.kvs, t.headerEnd, es, []string{"compression", "url"})
	}
	t := d.table(name, -1)
	if t != nil {
		for _, kv := range t.kvs {
			if kv.key == "sources" && kv.val.kind == '[' && source < len(kv.val.items) {
				if it := kv.val.items[source]; it.kind == '{' {
					return planInline(src, it, es)
				}
			}
		}
	}
	return nil, fmt.Errorf("%s: cannot find source %d to record its digest", name, source)
}

// planTable edits key lines of a [table]: an existing value is replaced in
// place; a new key gets its own line after its neighbour (size after sha256,
// else after the first anchor key present, else after the header).
func planTable(src string, kvs []*kv, headerEnd int, es []Edit, anchors []string) ([]splice, error) {
	find := func(k string) *kv {
		for _, kv := range kvs {
			if kv.key == k {
				return kv
			}
		}
		return nil
	}
	var out []splice
	for _, e := range es {
		lit, err := literal(e.Value)
		if err != nil {
			return nil, err
		}
		if kv := find(e.Key); kv != nil {
			if src[kv.val.start:kv.val.end] != lit {
				out = append(out, splice{start: kv.val.start, end: kv.val.end, text: lit})
			}
			continue
		}
		if size := find("size"); e.Key == "sha256" && size != nil {
			out = append(out, splice{start: size.lineStart, end: size.lineStart,
				text: lineIndent(src, size.lineStart) + "sha256 = " + lit + newline(src, size.lineStart)})
			continue
		}
		at, indent := headerEnd, ""
		if len(kvs) > 0 {
			indent = lineIndent(src, kvs[0].lineStart)
		}
		if e.Key == KeyPins {
			at, indent = pinsAt(src, kvs, headerEnd)
			out = append(out, splice{start: at, end: at, text: newline(src, at) + indent + e.Key + " = " + lit})
			continue
		}
		cands := anchors
		if e.Key == "size" {
			cands = append([]string{"sha256"}, anchors...)
		}
		for _, a := range cands {
			if kv := find(a); kv != nil {
				at, indent = kv.lineEnd, lineIndent(src, kv.lineStart)
				break
			}
		}
		out = append(out, splice{start: at, end: at, text: newline(src, at) + indent + e.Key + " = " + lit})
	}
	return out, nil
}

// newline is the line ending of the line holding off: "\r\n" when it ends
// so (a manifest written on Windows keeps its endings), else "\n".
func newline(src string, off int) string {
	if i := strings.IndexByte(src[off:], '\n'); i > 0 && src[off+i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// planInline edits an inline table { a = 1, b = 2 }.
func planInline(src string, it *value, es []Edit) ([]splice, error) {
	var out []splice
	var add []string
	for _, e := range es {
		lit, err := literal(e.Value)
		if err != nil {
			return nil, err
		}
		found := false
		for _, kv := range it.kvs {
			if kv.key == e.Key {
				found = true
				if src[kv.val.start:kv.val.end] != lit {
					out = append(out, splice{start: kv.val.start, end: kv.val.end, text: lit})
				}
			}
		}
		if !found {
			add = append(add, e.Key+" = "+lit)
		}
	}
	if len(add) > 0 {
		at := it.start + 1
		text := " " + strings.Join(add, ", ")
		if n := len(it.kvs); n > 0 {
			at = it.kvs[n-1].val.end
			text = ", " + strings.Join(add, ", ")
		}
		out = append(out, splice{start: at, end: at, text: text})
	}
	return out, nil
}

func lineIndent(src string, lineStart int) string {
	i := lineStart
	for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	return src[lineStart:i]
}
