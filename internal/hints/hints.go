// Package hints finds the next step after a failure: each fits the failure
// that caused it and is a command the user can paste, naming the real models
// and manifest. It decides which hint follows which outcome; cmd/modelfetch
// prints them.
package hints

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Run is how the command that failed was started, so that a hint's command
// names the same manifest, roots and models.
type Run struct {
	Manifest     string   // the manifest file
	ManifestArgs []string // "-m FILE", or nil when FILE is what a bare command reads
	Out          string   // --out
	Dirs         []string // --dir, each NAME=PATH
	Only         []string // --only
	// HubOffline: HF_HUB_OFFLINE made the run offline, not --offline.
	HubOffline bool
	// NoCache: --no-cache, so an offline run has nothing to read from.
	NoCache bool
	// Cache is --cache, which a hint to warm the cache must name too.
	Cache string
}

// failedNames returns the names of the artifacts that failed with kind (any
// kind when kind is 0) and whose error lines pass match (nil: all).
func failedNames(results []fetch.Result, kind fetch.Kind, match func(string) bool) []string {
	var out []string
	for _, r := range results {
		var fe *fetch.Error
		if r.Status != fetch.StatusFailed || !errors.As(r.Err, &fe) || (kind != 0 && fe.Kind != kind) {
			continue
		}
		if match == nil || slices.ContainsFunc(fe.Lines(), match) {
			out = append(out, r.Name)
		}
	}
	return out
}

// Sources follow a fetch or cache warm: a source served bad bytes, or the
// cache could not serve an offline run.
func Sources(results []fetch.Result, run Run) []string {
	hints := hub(results)
	names, poisoned := splitByMirror(failedNames(results, fetch.KindIntegrity, nil), results)
	// A registry artifact that contradicts itself fails lock the same way.
	names = slices.DeleteFunc(names, func(n string) bool { return brokenArtifact(results, n) })
	for _, p := range poisoned {
		hints = append(hints, fmt.Sprintf("the mirror %s serves other bytes than the manifest records for %s: remove them from it, or leave the mirror out",
			p.mirror, strings.Join(p.names, ", ")))
	}
	if len(names) > 0 {
		args := append([]string{"lock"}, run.ManifestArgs...)
		if fetch.FromHub(results, names) { // its metadata may be what is wrong
			args = append(args, "--download")
		}
		for _, n := range names {
			args = append(args, "--update="+n)
		}
		hints = append(hints, fmt.Sprintf("no source served the bytes the manifest records for %s; if the model changed upstream on purpose, run `%s` and review the diff", strings.Join(names, ", "), Command(args...)))
	}
	offline := failedNames(results, 0, func(l string) bool { return strings.Contains(l, "offline") })
	if len(offline) > 0 && run.NoCache {
		drop := "drop --no-cache"
		if run.HubOffline {
			drop += ", or unset HF_HUB_OFFLINE" // which made the run offline
		}
		hints = append(hints, "an offline run installs from the cache or file: sources only: "+drop)
	} else if len(offline) > 0 {
		args := append([]string{"cache", "warm"}, run.ManifestArgs...)
		if run.Cache != "" {
			args = append(args, "--cache", run.Cache)
		}
		for _, n := range offline {
			args = append(args, "--only", n)
		}
		drop := "drop --offline"
		if run.HubOffline {
			drop = "unset HF_HUB_OFFLINE" // which made the run offline
		}
		hints = append(hints, fmt.Sprintf("run `%s` with network access first, or %s", Command(args...), drop))
	}
	return hints
}

// brokenArtifact reports whether every integrity failure of the artifact
// name is a registry artifact that contradicts itself (two layers claiming
// one path, a layer that is no tar): no lock mends that.
func brokenArtifact(results []fetch.Result, name string) bool {
	for _, r := range results {
		var fe *fetch.Error
		if r.Name != name || !errors.As(r.Err, &fe) {
			continue
		}
		broken := false
		for _, s := range fe.Sources {
			var b interface{ BrokenArtifact() bool }
			if s.Kind != fetch.KindIntegrity {
				continue
			}
			if !errors.As(s.Err, &b) || !b.BrokenArtifact() {
				return false
			}
			broken = true
		}
		return broken
	}
	return false
}

type poisonedMirror struct {
	mirror string
	names  []string
}

// splitByMirror separates the artifacts whose wrong bytes all came from
// mirrors (the mirror needs mending, not the manifest) from the others.
func splitByMirror(names []string, results []fetch.Result) (origin []string, mirrors []poisonedMirror) {
	byMirror := map[string]int{}
	for _, r := range results {
		if !slices.Contains(names, r.Name) {
			continue
		}
		var fe *fetch.Error
		if !errors.As(r.Err, &fe) {
			continue
		}
		bad := ""
		for _, s := range fe.Sources {
			if s.Kind == fetch.KindIntegrity {
				if s.Mirror == "" {
					bad = ""
					break
				}
				if bad == "" {
					bad = s.Mirror
				}
			}
		}
		if bad == "" {
			origin = append(origin, r.Name)
			continue
		}
		i, ok := byMirror[bad]
		if !ok {
			i = len(mirrors)
			byMirror[bad] = i
			mirrors = append(mirrors, poisonedMirror{mirror: bad})
		}
		mirrors[i].names = append(mirrors[i].names, r.Name)
	}
	return origin, mirrors
}

// Verify follows a verify that found installed files changed or missing:
// fetch repairs them.
func Verify(results []fetch.Result, run Run) []string {
	names := failedNames(results, fetch.KindIntegrity, nil)
	if len(names) == 0 {
		return nil
	}
	args := append([]string{"fetch"}, run.ManifestArgs...)
	if run.Out != "" {
		args = append(args, "--out", run.Out)
	}
	for _, d := range run.Dirs {
		args = append(args, "--dir", d)
	}
	for _, n := range names {
		args = append(args, "--only", n)
	}
	return []string{fmt.Sprintf("run `%s` to reinstall what was changed or removed", Command(args...))}
}

// Lock follows lock's findings: a model that changed upstream is
// updated on purpose; sources that disagree need a mirror removed or
// --first-source; missing values need a lock.
func Lock(findings []lock.Finding, run Run) []string {
	var changed, disagree []string
	incomplete, tooLarge := false, false
	for _, f := range findings {
		switch {
		case (f.Kind == lock.Changed && f.Kept || f.Kind == lock.TooLarge && f.LimitFrom == "size") && !slices.Contains(changed, f.Model):
			// Grown past its recorded size is a change upstream too.
			changed = append(changed, f.Model)
		case f.Kind == lock.TooLarge && f.LimitFrom != "size":
			tooLarge = true
		case f.Kind == lock.Disagrees && !slices.Contains(disagree, f.Model):
			disagree = append(disagree, f.Model)
		case f.Kind == lock.Incomplete:
			incomplete = true
		}
	}
	m := run.ManifestArgs
	hints := HubFindings(findings)
	if len(changed) > 0 {
		args := append([]string{"lock"}, m...)
		for _, n := range changed {
			args = append(args, "--update="+n)
		}
		hints = append(hints, fmt.Sprintf("%s changed upstream; if that is expected, run `%s` and review the diff", strings.Join(changed, ", "), Command(args...)))
	}
	if len(disagree) > 0 {
		args := append(append([]string{"lock"}, m...), "--first-source")
		args = append(args, disagree...)
		hints = append(hints, fmt.Sprintf("the sources of %s serve different bytes: remove the bad mirror from %s, or run `%s` to record what the first working source serves", strings.Join(disagree, ", "), run.Manifest, Command(args...)))
	}
	if tooLarge {
		hints = append(hints, fmt.Sprintf("a source serves more than --max-size allows; if the model really is that large, run `%s` with a larger --max-size", Command(append([]string{"lock"}, m...)...)))
	}
	if incomplete {
		hints = append(hints, fmt.Sprintf("run `%s` to record the missing values", Command(append([]string{"lock"}, m...)...)))
	}
	return hints
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9_./=:@%+,-]+$`)

// Command renders a modelfetch command line, quoting for a POSIX shell.
func Command(args ...string) string { return Shell(append([]string{"modelfetch"}, args...)...) }

// Shell renders a command line (mkdir -p DIR), quoting for a POSIX shell.
func Shell(args ...string) string {
	q := make([]string, 0, len(args))
	for _, a := range args {
		if !plainArg.MatchString(a) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q = append(q, a)
	}
	return strings.Join(q, " ")
}

// LockFirst gives the models RequireLocked refused the lock command that
// records their values, naming the manifest as the run did.
func LockFirst(err error, run Run) error {
	var ml manifest.ErrorList
	if errors.As(err, &ml) {
		h := fmt.Sprintf("run `%s` to record its sha256 and size", Command(append([]string{"lock"}, run.ManifestArgs...)...))
		for _, e := range ml {
			if e.Hint != "" {
				e.Hint = h
			}
		}
	}
	return err
}

// InstallFirst follows a mirror push that had no file for some models: the
// fetch (or cache warm) that makes them, for the same manifest, roots,
// models and cache.
func InstallFirst(run Run, cacheDir string) string {
	m := run.ManifestArgs
	var only, cache []string
	for _, n := range run.Only {
		only = append(only, "--only", n)
	}
	if cacheDir != "" {
		cache = []string{"--cache", cacheDir}
	}
	install := slices.Concat(m, cache)
	if run.Out != "" {
		install = append(install, "--out", run.Out)
	}
	for _, d := range run.Dirs {
		install = append(install, "--dir", d)
	}
	warm := slices.Concat([]string{"cache", "warm"}, m, cache, only)
	return fmt.Sprintf("run `%s` (or `%s`) first", Command(slices.Concat(install, only)...), Command(warm...))
}

// hub gives the next steps for the Hub's refusals, once each.
func hub(results []fetch.Result) []string {
	var hints []string
	for _, r := range results {
		var fe *fetch.Error
		if r.Status != fetch.StatusFailed || !errors.As(r.Err, &fe) {
			continue
		}
		for _, s := range fe.Sources {
			var he *fetch.HubError
			if errors.As(s, &he) && he.Hint() != "" && !slices.Contains(hints, he.Hint()) {
				hints = append(hints, he.Hint())
			}
		}
	}
	return hints
}

// HubFindings are the next steps for the Hub's refusals lock met.
func HubFindings(findings []lock.Finding) []string {
	var hints []string
	for _, f := range findings {
		var he *fetch.HubError
		if f.Err != nil && errors.As(f.Err, &he) && he.Hint() != "" && !slices.Contains(hints, he.Hint()) {
			hints = append(hints, he.Hint())
		}
	}
	return hints
}
