package fetch

import (
	"cmp"
	"path"
	"slices"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/manifest"
)

// startOrder is the order in which the targets' downloads start (--jobs at
// a time, each that ends letting the next one start): first those whose
// first source is compressed, whose decoding is CPU work that can overlap
// the other files' downloads (started last, a bzip2 file's decoding is the
// run's tail), then the rest, each group the largest first (the longest
// job first shortens a run the most). Ties keep the manifest's order.
func startOrder(targets []Target) []int {
	order := make([]int, len(targets))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ma, mb := targets[a].Model, targets[b].Model
		if da, db := decodes(ma), decodes(mb); da != db {
			if da {
				return -1
			}
			return 1
		}
		return cmp.Compare(mb.Size, ma.Size)
	})
	return order
}

// decodes reports whether m's first source is compressed: declared so, or,
// left to be detected, named like a compressed file.
func decodes(m *manifest.Model) bool {
	if len(m.Sources) == 0 {
		return false
	}
	s := m.Sources[0]
	if s.Compression != decompress.Auto {
		return s.Compression != decompress.None
	}
	if s.Parsed == nil {
		return false
	}
	f, _ := decompress.ByName(path.Base(s.Parsed.Path))
	return f != decompress.None
}
