package manifest

import (
	"strconv"
	"strings"
)

// positions maps dotted key paths to the line that defines them.
//
// BurntSushi/toml keeps key positions private, so this is a small line scanner
// that understands exactly what positions need: table headers ([a.b]), array
// table headers ([[a.b]], indexed in order) and "key =" lines, skipping
// multi-line strings and arrays. Keys inside array tables are recorded as
// "models.x.sources.0.url". It never decides validity; the TOML decoder does.
type positions map[string]int

func scanPositions(src string) positions {
	pos := positions{}
	arrays := map[string]int{} // array table path -> count so far
	table := ""
	plain := "" // table without array indices, as the TOML decoder names keys
	depth := 0  // open brackets of a multi-line value
	inStr := "" // open multi-line string delimiter
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		if inStr != "" {
			if strings.Contains(line, inStr) {
				inStr = ""
			}
			continue
		}
		t := strings.TrimSpace(line)
		if depth > 0 {
			depth += bracketDelta(t)
			continue
		}
		switch {
		case t == "" || t[0] == '#':
		case strings.HasPrefix(t, "[["):
			name := keyPath(strings.TrimSuffix(strings.TrimSpace(strings.SplitN(t[2:], "]]", 2)[0]), "]"))
			idx := arrays[name]
			arrays[name] = idx + 1
			table = name + "." + strconv.Itoa(idx)
			plain = name
			pos.set(name, n)
			pos.set(table, n)
		case t[0] == '[':
			table = keyPath(strings.SplitN(t[1:], "]", 2)[0])
			plain = table
			pos.set(table, n)
		default:
			eq := strings.IndexByte(t, '=')
			if eq <= 0 {
				continue
			}
			key := keyPath(t[:eq])
			full := key
			if table != "" {
				full = table + "." + key
			}
			pos.set(full, n)
			if plain != table {
				pos.set(plain+"."+key, n)
			}
			// Intermediate dotted keys (a.b = 1 defines a) point here too.
			for j := strings.LastIndexByte(full, '.'); j > 0; j = strings.LastIndexByte(full[:j], '.') {
				pos.set(full[:j], n)
			}
			val := strings.TrimSpace(t[eq+1:])
			for _, d := range []string{`"""`, `'''`} {
				if strings.HasPrefix(val, d) && !strings.Contains(val[3:], d) {
					inStr = d
				}
			}
			if inStr == "" {
				depth = bracketDelta(val)
				if depth < 0 {
					depth = 0
				}
			}
		}
	}
	return pos
}

// set records the first line a path appears on.
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

// keyPath normalises a TOML key ("a . \"b\"") to "a.b". Quoted parts keep
// their content; it is good enough for the names a manifest uses.
func keyPath(k string) string {
	var parts []string
	for _, part := range splitDotted(k) {
		part = strings.TrimSpace(part)
		if len(part) >= 2 && (part[0] == '"' || part[0] == '\'') && part[len(part)-1] == part[0] {
			part = part[1 : len(part)-1]
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ".")
}

// splitDotted splits on dots outside quotes.
func splitDotted(k string) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, k[start:i])
			start = i + 1
		}
	}
	return append(parts, k[start:])
}

// bracketDelta counts [ minus ] outside strings and comments.
func bracketDelta(s string) int {
	d := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return d
		case c == '[':
			d++
		case c == ']':
			d--
		}
	}
	return d
}
