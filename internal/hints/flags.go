package hints

import (
	"strings"

	"github.com/spf13/pflag"
)

// NearestFlags are the flags of fs nearest to name, a mistyped flag (at
// most two edits away, or name a prefix of at least three letters), each
// as "--flag".
func NearestFlags(fs *pflag.FlagSet, name string) []string {
	var best []string
	bestD := 3 // at most two edits away
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := levenshtein(name, f.Name)
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		switch {
		case d < bestD:
			bestD, best = d, []string{"--" + f.Name}
		case d == bestD:
			best = append(best, "--"+f.Name)
		}
	})
	return best
}

// levenshtein is the edit distance between a and b, in bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
