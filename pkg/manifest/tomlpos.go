package manifest

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// doc is the layout of a manifest's text: its tables, and every key with the
// byte span of its value. It is read with go-toml's unstable parser, which
// reports each key and value with its place in the text; BurntSushi/toml
// decodes the values. The layout serves three things: the line of each key
// for errors, the exact spelling of each key (the decoder matches keys without
// regard to case), and the in-place edits of Apply.
type doc struct {
	src    []byte
	lines  []int // offset of the start of each line
	tables []*table
	pos    positions
	keys   []keyUse // every key path in file order, for checking names
}

type table struct {
	path      string
	index     int // among array tables of this path; -1 for a plain table
	headerEnd int // offset of the end of the header line (before its newline)
	kvs       []*kv
	// parts and indexed are path split into keys; indexed ends with the
	// array table's index.
	parts, indexed []string
}

type kv struct {
	key                string // dotted, relative to its table or inline table
	lineStart, lineEnd int    // the line the key starts on; end of the line its value ends on
	val                *value
}

type value struct {
	kind       byte // '"' string, '[' array, '{' inline table, 'x' other
	start, end int  // the value's bytes; for arrays and inline tables only start is kept
	items      []*value
	kvs        []*kv // inline table keys
}

// keyUse is one key as written: its path without array indices (as the
// decoder names keys) and its line.
type keyUse struct {
	path []string
	line int
}

// positions maps dotted key paths to the line that first defines them. Keys of
// array tables are recorded both with their index ("models.a.sources.0.url")
// and without it ("models.a.sources.url").
type positions map[string]int

func (p positions) set(path string, line int) {
	if _, ok := p[path]; !ok {
		p[path] = line
	}
}

// line returns the line of path, or of its nearest recorded parent, or 0.
func (p positions) line(path string) int {
	for {
		if n, ok := p[path]; ok {
			return n
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
}

// syntaxError is a TOML error go-toml found, at a byte offset.
type syntaxError struct {
	offset int
	msg    string
}

func (e *syntaxError) Error() string { return e.msg }

// parseDoc reads the layout of src. Nesting must have been bounded before
// (see checkNesting): the walk recurses once per level.
func parseDoc(src []byte) (d *doc, err error) {
	d = &doc{src: src, pos: positions{}, lines: []int{0}}
	for i, c := range src {
		if c == '\n' {
			d.lines = append(d.lines, i+1)
		}
	}
	var p unstable.Parser
	p.Reset(src)
	cur := &table{index: -1}
	d.tables = append(d.tables, cur)
	arrays := map[string]int{}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, end := keyParts(e.Key())
			name := strings.Join(parts, ".")
			cur = &table{path: name, index: -1, headerEnd: d.restOfLine(end)}
			line := d.line(keyStart(e))
			d.pos.set(name, line)
			indexed := parts
			if e.Kind == unstable.ArrayTable {
				cur.index = arrays[name]
				arrays[name]++
				indexed = append(append([]string{}, parts...), strconv.Itoa(cur.index))
				d.pos.set(name+"."+strconv.Itoa(cur.index), line)
			}
			d.tables = append(d.tables, cur)
			d.keys = append(d.keys, keyUse{path: parts, line: line})
			cur.parts, cur.indexed = parts, indexed
		case unstable.KeyValue:
			k := d.keyValue(e, cur.parts, cur.indexed)
			k.lineEnd = d.restOfLine(k.val.end)
			cur.kvs = append(cur.kvs, k)
		}
	}
	if err := p.Error(); err != nil {
		if off, msg, ok := SyntaxOffset(src, err); ok {
			return nil, &syntaxError{offset: off, msg: msg}
		}
		return nil, err
	}
	return d, nil
}

// keyValue records a key = value (at top level, or inside an inline table)
// under the table path parent (indexed: with array indices).
func (d *doc) keyValue(e *unstable.Node, parent, indexed []string) *kv {
	parts, _ := keyParts(e.Key())
	line := d.line(keyStart(e))
	k := &kv{key: strings.Join(parts, "."), lineStart: d.lines[line-1]}
	full := append(append([]string{}, parent...), parts...)
	fullIndexed := append(append([]string{}, indexed...), parts...)
	for i := len(parent) + 1; i <= len(full); i++ {
		d.pos.set(strings.Join(full[:i], "."), line)
		d.pos.set(strings.Join(fullIndexed[:len(indexed)+i-len(parent)], "."), line)
	}
	d.keys = append(d.keys, keyUse{path: full, line: line})
	k.val = d.value(e.Value(), full, fullIndexed)
	// A KeyValue's span runs from its key to the end of its value; it is
	// the only way to find where an array or inline table ends.
	k.val.end = int(e.Raw.Offset + e.Raw.Length)
	return k
}

func (d *doc) value(n *unstable.Node, path, indexed []string) *value {
	v := &value{kind: 'x', start: int(n.Raw.Offset), end: int(n.Raw.Offset + n.Raw.Length)}
	switch n.Kind {
	case unstable.String:
		v.kind = '"'
	case unstable.Array:
		v.kind = '['
		i := 0
		for it := n.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			ix := append(append([]string{}, indexed...), strconv.Itoa(i))
			if c.Kind == unstable.InlineTable {
				d.pos.set(strings.Join(ix, "."), d.line(int(c.Raw.Offset)))
			}
			v.items = append(v.items, d.value(c, path, ix))
			i++
		}
	case unstable.InlineTable:
		v.kind = '{'
		for it := n.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				v.kvs = append(v.kvs, d.keyValue(c, path, indexed))
			}
		}
	}
	return v
}

// keyStart returns the offset of the first part of a node's key.
func keyStart(n *unstable.Node) int {
	it := n.Key()
	it.Next()
	return int(it.Node().Raw.Offset)
}

// keyParts returns the decoded parts of a (dotted) key and the offset just
// past its last part.
func keyParts(it unstable.Iterator) ([]string, int) {
	var parts []string
	end := 0
	for it.Next() {
		n := it.Node()
		parts = append(parts, string(n.Data))
		end = int(n.Raw.Offset + n.Raw.Length)
	}
	return parts, end
}

// line returns the 1-based line of a byte offset.
func (d *doc) line(off int) int {
	return sort.Search(len(d.lines), func(i int) bool { return d.lines[i] > off })
}

// restOfLine returns the offset of the end of the line holding off (before
// its newline and any carriage return), past a trailing comment.
func (d *doc) restOfLine(off int) int {
	i := off
	for i < len(d.src) && d.src[i] != '\n' {
		i++
	}
	if i > 0 && d.src[i-1] == '\r' {
		i--
	}
	return i
}

func (d *doc) table(path string, index int) *table {
	for _, t := range d.tables {
		if t.path == path && t.index == index {
			return t
		}
	}
	return nil
}

// SyntaxOffset finds where in src a go-toml parser error points, and its
// message; ok is false for any other error.
func SyntaxOffset(src []byte, err error) (off int, msg string, ok bool) {
	var pe *unstable.ParserError
	if !errors.As(err, &pe) {
		return 0, "", false
	}
	// The highlight is a slice of src: its capacity tells where.
	off = cap(src) - cap(pe.Highlight)
	if pe.Highlight == nil || off < 0 || off > len(src) {
		off = len(src)
	}
	return off, pe.Message, true
}
