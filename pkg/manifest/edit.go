package manifest

import (
	"bytes"
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
	// Key is "sha256" or "size".
	Key string
	// Value is the Go value: a string for sha256, an int64 for size.
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
	doc, err := scanDoc(string(src))
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
	if k == "sha256" {
		return 0
	}
	return 1
}

func checkEdit(m *Manifest, e Edit) bool {
	mod := m.Model(e.Model)
	if mod == nil {
		return false
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
				text: lineIndent(src, size.lineStart) + "sha256 = " + lit + "\n"})
			continue
		}
		at, indent := headerEnd, ""
		if len(kvs) > 0 {
			indent = lineIndent(src, kvs[0].lineStart)
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
		out = append(out, splice{start: at, end: at, text: "\n" + indent + e.Key + " = " + lit})
	}
	return out, nil
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
		at := it.open + 1
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

// doc is the layout of a TOML text: tables and the spans of their keys.
type doc struct {
	tables []*table
}

type table struct {
	path      string
	index     int // among array tables of this path; -1 for a plain table
	headerEnd int // offset of the end of the header line (before its newline)
	kvs       []*kv
}

type kv struct {
	key                string // normalised, relative to its table
	lineStart, lineEnd int    // the line the key starts on; end of the line its value ends on
	val                *value
}

type value struct {
	kind       byte // '"' string, '[' array, '{' inline table, 'x' other
	start, end int
	open       int      // offset of '{' for inline tables
	items      []*value // array items
	kvs        []*kv    // inline table keys
}

func (d *doc) table(path string, index int) *table {
	for _, t := range d.tables {
		if t.path == path && t.index == index {
			return t
		}
	}
	return nil
}

// scanDoc lexes just enough TOML to find tables, keys and value spans. It
// runs only on text the TOML decoder has accepted.
func scanDoc(src string) (*doc, error) {
	s := &scanner{src: src}
	d := &doc{}
	cur := &table{path: "", index: -1, headerEnd: 0}
	d.tables = append(d.tables, cur)
	arrays := map[string]int{}
	for {
		s.skipBlankAndComments()
		if s.i >= len(src) {
			return d, nil
		}
		switch {
		case strings.HasPrefix(src[s.i:], "[["):
			end := strings.Index(src[s.i:], "]]")
			if end < 0 {
				return nil, fmt.Errorf("unterminated table header")
			}
			path := keyPath(strings.TrimSpace(src[s.i+2 : s.i+end]))
			s.i += end + 2
			cur = &table{path: path, index: arrays[path], headerEnd: s.restOfLine()}
			arrays[path]++
			d.tables = append(d.tables, cur)
		case src[s.i] == '[':
			end := strings.IndexByte(src[s.i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unterminated table header")
			}
			path := keyPath(strings.TrimSpace(src[s.i+1 : s.i+end]))
			s.i += end + 1
			cur = &table{path: path, index: -1, headerEnd: s.restOfLine()}
			d.tables = append(d.tables, cur)
		default:
			lineStart := strings.LastIndexByte(src[:s.i], '\n') + 1
			k, err := s.keyValue()
			if err != nil {
				return nil, err
			}
			k.lineStart = lineStart
			k.lineEnd = s.restOfLine()
			cur.kvs = append(cur.kvs, k)
		}
	}
}

type scanner struct {
	src string
	i   int
}

func (s *scanner) skipSpace() {
	for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

// skipBlankAndComments skips white space, newlines and comments.
func (s *scanner) skipBlankAndComments() {
	for s.i < len(s.src) {
		switch c := s.src[s.i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.i++
		case c == '#':
			for s.i < len(s.src) && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

// restOfLine skips to the end of the line (past a comment) and returns the
// offset of the newline (or the end of the text).
func (s *scanner) restOfLine() int {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
	end := s.i
	if end > 0 && s.src[end-1] == '\r' {
		end--
	}
	return end
}

// keyValue reads "key = value".
func (s *scanner) keyValue() (*kv, error) {
	start := s.i
	for s.i < len(s.src) && s.src[s.i] != '=' {
		switch s.src[s.i] {
		case '"', '\'':
			if err := s.str(); err != nil {
				return nil, err
			}
			continue
		case '\n':
			return nil, fmt.Errorf("key without value")
		}
		s.i++
	}
	if s.i >= len(s.src) {
		return nil, fmt.Errorf("key without value")
	}
	key := keyPath(strings.TrimSpace(s.src[start:s.i]))
	s.i++ // '='
	s.skipSpace()
	v, err := s.value()
	if err != nil {
		return nil, err
	}
	return &kv{key: key, val: v}, nil
}

func (s *scanner) value() (*value, error) {
	if s.i >= len(s.src) {
		return nil, fmt.Errorf("missing value")
	}
	v := &value{start: s.i}
	switch c := s.src[s.i]; c {
	case '"', '\'':
		v.kind = '"'
		if err := s.str(); err != nil {
			return nil, err
		}
	case '[':
		v.kind = '['
		s.i++
		for {
			s.skipBlankAndComments()
			if s.i >= len(s.src) {
				return nil, fmt.Errorf("unterminated array")
			}
			if s.src[s.i] == ']' {
				s.i++
				break
			}
			it, err := s.value()
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, it)
			s.skipBlankAndComments()
			if s.i < len(s.src) && s.src[s.i] == ',' {
				s.i++
			}
		}
	case '{':
		v.kind = '{'
		v.open = s.i
		s.i++
		for {
			s.skipSpace()
			if s.i >= len(s.src) {
				return nil, fmt.Errorf("unterminated inline table")
			}
			if s.src[s.i] == '}' {
				s.i++
				break
			}
			k, err := s.keyValue()
			if err != nil {
				return nil, err
			}
			v.kvs = append(v.kvs, k)
			s.skipSpace()
			if s.i < len(s.src) && s.src[s.i] == ',' {
				s.i++
			}
		}
	default:
		v.kind = 'x'
		for s.i < len(s.src) && !bytes.ContainsRune([]byte(" \t\r\n,]}#"), rune(s.src[s.i])) {
			s.i++
		}
	}
	v.end = s.i
	return v, nil
}

// str skips a basic, literal or multi-line string.
func (s *scanner) str() error {
	q := s.src[s.i]
	if strings.HasPrefix(s.src[s.i:], strings.Repeat(string(q), 3)) {
		delim := strings.Repeat(string(q), 3)
		j := s.i + 3
		for {
			k := strings.Index(s.src[j:], delim)
			if k < 0 {
				return fmt.Errorf("unterminated string")
			}
			j += k
			if q == '"' && escaped(s.src, j) {
				j++
				continue
			}
			j += 3
			for j < len(s.src) && s.src[j] == q { // up to two quotes may close the content
				j++
			}
			s.i = j
			return nil
		}
	}
	j := s.i + 1
	for j < len(s.src) {
		switch c := s.src[j]; {
		case c == '\\' && q == '"':
			j += 2
			continue
		case c == q:
			s.i = j + 1
			return nil
		case c == '\n':
			return fmt.Errorf("newline in string")
		}
		j++
	}
	return fmt.Errorf("unterminated string")
}

// escaped reports whether src[j] is preceded by an odd number of backslashes.
func escaped(src string, j int) bool {
	n := 0
	for k := j - 1; k >= 0 && src[k] == '\\'; k-- {
		n++
	}
	return n%2 == 1
}
