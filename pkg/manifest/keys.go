package manifest

import (
	"fmt"
	"strings"
)

// The keys a manifest may use, by the table they belong to. The decoder
// matches keys without regard to case (it would read "SHA256" as sha256), so
// names are checked here, spelled exactly.
var (
	topKeys     = []string{"version", "defaults", "dirs", "models"}
	defaultKeys = []string{"owner", "file_mode", "dir_mode"}
	modelKeys   = []string{"dir", "path", "sha256", "size", "urls", "sources", "pins"}
	sourceKeys  = []string{"url", "compression", "sha256", "size"}
)

// allowed returns the keys allowed at path[len(path)-1], given its parents, or
// nil when any name is allowed there (a [dirs] root, a model's name) or when
// a parent is already wrong (reported on its own).
func allowed(path []string) []string {
	switch n := len(path); {
	case n == 1:
		return topKeys
	case path[0] == "defaults" && n == 2:
		return defaultKeys
	case path[0] == "models" && n == 3:
		return modelKeys
	case path[0] == "models" && n == 4 && path[2] == "sources":
		return sourceKeys
	}
	return nil
}

// checkKeys reports every key that is not in the schema, once per distinct
// path, with a suggestion when a known key is one typo away.
func (p *parser) checkKeys(keys []keyUse) {
	seen := map[string]bool{}
	for _, k := range keys {
		for i := range k.path {
			want := allowed(k.path[:i+1])
			name := k.path[i]
			if want == nil || contains(want, name) {
				continue
			}
			key := strings.Join(k.path[:i+1], ".")
			if !seen[key] {
				seen[key] = true
				e := &Error{File: p.file, Line: k.line, Key: key, Msg: fmt.Sprintf("unknown key %q", name)}
				if s := Suggest(name, want); s != "" {
					e.Hint = fmt.Sprintf("did you mean %q instead of %q?", s, name)
					if i > 0 {
						e.Hint = strings.Join(k.path[:i], ".") + ": " + e.Hint
					}
				}
				p.errs.add(e)
			}
			break // the keys below a wrong one are not checked
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the known key closest to name when it is a likely typo:
// the same letters in another case, or at most two edits (a swap of two
// neighbours counts as one) for names of four letters or more, one for
// shorter ones.
func Suggest(name string, known []string) string {
	best, bestD := "", 3
	bare := func(s string) string { return strings.ReplaceAll(s, "_", "") }
	for _, k := range known {
		if strings.EqualFold(k, name) || strings.EqualFold(bare(k), bare(name)) {
			return k
		}
		limit := 2
		if len(k) < 4 {
			limit = 1
		}
		if d := editDistance(name, k); d <= limit && d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and swaps of adjacent bytes each cost one.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // not a typo of a short key; do not spend on it
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
