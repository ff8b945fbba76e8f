package rules

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/djok/modelfetch/pkg/manifest"
)

// The keys a rules file may use. The decoder matches keys without regard to
// case, so names are checked here, spelled exactly.
var (
	topKeys     = []string{"blocked_message", "allow", "block", "rewrite"}
	rewriteKeys = []string{"match", "to", "token_env", "netrc"}
	// secretKeys would hold a secret inline: refused with a pointer to the
	// references.
	secretKeys = []string{"token", "password", "secret", "login", "user", "username", "authorization", "header", "headers", "api_key"}
)

// keyUse is one key as written: its path with array indices ("rewrite.0.to")
// and its line.
type keyUse struct {
	path []string
	line int
}

// layout is where each key and array item of a rules file is written.
type layout struct {
	lines []int    // offset of the start of each line
	keys  []keyUse // every key, in file order
	pos   map[string]int
}

// line returns the line of the dotted path, or of its nearest recorded
// parent, or 0.
func (l *layout) line(path string) int {
	for {
		if n, ok := l.pos[path]; ok {
			return n
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
}

// readLayout walks src with go-toml's parser, which reports where each key
// and value is (BurntSushi/toml decodes the values but says no line).
func readLayout(src []byte) (*layout, error) {
	l := &layout{lines: []int{0}, pos: map[string]int{}}
	for i, c := range src {
		if c == '\n' {
			l.lines = append(l.lines, i+1)
		}
	}
	var p unstable.Parser
	p.Reset(src)
	var cur []string
	arrays := map[string]int{}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			cur = keyParts(e.Key())
			line := l.at(keyStart(e))
			if e.Kind == unstable.ArrayTable {
				name := strings.Join(cur, ".")
				cur = append(cur, strconv.Itoa(arrays[name]))
				arrays[name]++
			}
			l.record(cur, line)
		case unstable.KeyValue:
			l.keyValue(e, cur)
		}
	}
	if err := p.Error(); err != nil {
		if off, msg, ok := manifest.SyntaxOffset(src, err); ok {
			return nil, &manifest.Error{Line: l.at(off), Msg: "toml: " + manifest.Tidy(msg)}
		}
		return nil, err
	}
	return l, nil
}

func (l *layout) record(path []string, line int) {
	key := strings.Join(path, ".")
	if _, ok := l.pos[key]; !ok {
		l.pos[key] = line
	}
	l.keys = append(l.keys, keyUse{path: append([]string{}, path...), line: line})
}

func (l *layout) keyValue(e *unstable.Node, parent []string) {
	path := append(append([]string{}, parent...), keyParts(e.Key())...)
	l.record(path, l.at(keyStart(e)))
	l.value(e.Value(), path)
}

func (l *layout) value(n *unstable.Node, path []string) {
	switch n.Kind {
	case unstable.Array:
		i := 0
		for it := n.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			item := append(append([]string{}, path...), strconv.Itoa(i))
			l.pos[strings.Join(item, ".")] = l.at(int(c.Raw.Offset))
			l.value(c, item)
			i++
		}
	case unstable.InlineTable:
		for it := n.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				l.keyValue(c, path)
			}
		}
	}
}

// at returns the 1-based line of a byte offset.
func (l *layout) at(off int) int {
	return sort.Search(len(l.lines), func(i int) bool { return l.lines[i] > off })
}

func keyStart(n *unstable.Node) int {
	it := n.Key()
	it.Next()
	return int(it.Node().Raw.Offset)
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// allowed returns the keys allowed for the last part of path (indices
// dropped), or nil when the parent is not a table of the schema.
func allowed(path []string) []string {
	var names []string
	for _, p := range path {
		if _, err := strconv.Atoi(p); err != nil {
			names = append(names, p)
		}
	}
	switch {
	case len(names) == 1:
		return topKeys
	case len(names) == 2 && names[0] == "rewrite":
		return rewriteKeys
	}
	return nil
}

// checkKeys reports each key that is not in the schema, once.
func checkKeys(file string, keys []keyUse) manifest.ErrorList {
	var errs manifest.ErrorList
	seen := map[string]bool{}
	for _, k := range keys {
		want := allowed(k.path)
		name := k.path[len(k.path)-1]
		if _, err := strconv.Atoi(name); err == nil {
			continue // an array table's index
		}
		key := strings.Join(k.path, ".")
		if want == nil || slices.Contains(want, name) || seen[key] {
			continue
		}
		seen[key] = true
		e := &manifest.Error{File: file, Line: k.line, Key: key, Msg: fmt.Sprintf("unknown key %q", name)}
		switch {
		case slices.Contains(secretKeys, strings.ToLower(name)):
			e.Msg = fmt.Sprintf("%q would hold a secret in the rules file; secrets are never accepted inline", name)
			e.Hint = "name an environment variable with token_env, or a netrc machine with netrc"
		case manifest.Suggest(name, want) != "":
			e.Hint = fmt.Sprintf("did you mean %q instead of %q?", manifest.Suggest(name, want), name)
		}
		errs = append(errs, e)
	}
	return errs
}
