package fetch

import "github.com/djok/modelfetch/pkg/mirror"

// InstalledFiles are the targets' installed files, as pkg/mirror pushes
// them.
func InstalledFiles(targets []Target) []mirror.Installed {
	out := make([]mirror.Installed, 0, len(targets))
	for _, t := range targets {
		out = append(out, mirror.Installed{Model: t.Model, Root: t.Root})
	}
	return out
}

// Pushable are the installed files of the targets results says are in
// place now (installed, from the cache, or up to date), in target order,
// for fetch --mirror-push; left is how many targets are not.
func Pushable(targets []Target, results []Result) (files []mirror.Installed, left int) {
	ok := map[string]bool{}
	for _, r := range results {
		ok[r.Name] = r.Status == StatusInstalled || r.Status == StatusFromCache || r.Status == StatusUpToDate
	}
	var in []Target
	for _, t := range targets {
		if ok[t.Model.Name] {
			in = append(in, t)
		}
	}
	return InstalledFiles(in), len(targets) - len(in)
}
