package main

// Hints: the next step after a failure. Each fits the failure that caused it
// and is a command the user can paste, naming the real models and manifest.

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
)

// statusDownloaded is what lock's progress says of a source it has read.
const statusDownloaded fetch.Status = "downloaded"

// statusDescribed: lock took a source's values from its metadata (a
// registry's layer descriptor), with no download.
const statusDescribed fetch.Status = "described"

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

// sourceHints follow a fetch or cache warm: a source served bad bytes, or the
// cache could not serve an offline run.
func sourceHints(results []fetch.Result, o *manifestOptions, env env) []string {
	hints := hubHints(results)
	names, poisoned := splitByMirror(failedNames(results, fetch.KindIntegrity, nil), results)
	for _, p := range poisoned {
		hints = append(hints, fmt.Sprintf("the mirror %s serves other bytes than the manifest records for %s: remove them from it, or leave the mirror out",
			p.mirror, strings.Join(p.names, ", ")))
	}
	if len(names) > 0 {
		args := append([]string{"lock"}, manifestArg(o.manifest, env)...)
		for _, n := range names {
			args = append(args, "--update="+n)
		}
		hints = append(hints, fmt.Sprintf("no source served the bytes the manifest records for %s; if the model changed upstream on purpose, run `%s` and review the diff", strings.Join(names, ", "), command(args...)))
	}
	offline := failedNames(results, 0, func(l string) bool { return strings.Contains(l, "offline") })
	if len(offline) > 0 {
		args := append([]string{"cache", "warm"}, manifestArg(o.manifest, env)...)
		for _, n := range offline {
			args = append(args, "--only", n)
		}
		hints = append(hints, fmt.Sprintf("run `%s` with network access first, or drop --offline", command(args...)))
	}
	return hints
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

// verifyHints follow a verify that found installed files changed or missing:
// fetch repairs them.
func verifyHints(results []fetch.Result, o *manifestOptions, env env) []string {
	names := failedNames(results, fetch.KindIntegrity, nil)
	if len(names) == 0 {
		return nil
	}
	args := append([]string{"fetch"}, manifestArg(o.manifest, env)...)
	if o.out != "" {
		args = append(args, "--out", o.out)
	}
	for _, d := range o.dirs {
		args = append(args, "--dir", d)
	}
	for _, n := range names {
		args = append(args, "--only", n)
	}
	return []string{fmt.Sprintf("run `%s` to reinstall what was changed or removed", command(args...))}
}

// lockHints follow lock's findings: a model that changed upstream is
// updated on purpose; sources that disagree need a mirror removed or
// --first-source; missing values need a lock.
func lockHints(findings []lock.Finding, manifest string, env env) []string {
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
	m := manifestArg(manifest, env)
	hints := hubFindingHints(findings)
	if len(changed) > 0 {
		args := append([]string{"lock"}, m...)
		for _, n := range changed {
			args = append(args, "--update="+n)
		}
		hints = append(hints, fmt.Sprintf("%s changed upstream; if that is expected, run `%s` and review the diff", strings.Join(changed, ", "), command(args...)))
	}
	if len(disagree) > 0 {
		args := append(append([]string{"lock"}, m...), "--first-source")
		args = append(args, disagree...)
		hints = append(hints, fmt.Sprintf("the sources of %s serve different bytes: remove the bad mirror from %s, or run `%s` to record what the first working source serves", strings.Join(disagree, ", "), manifest, command(args...)))
	}
	if tooLarge {
		hints = append(hints, fmt.Sprintf("a source serves more than --max-size allows; if the model really is that large, run `%s` with a larger --max-size", command(append([]string{"lock"}, m...)...)))
	}
	if incomplete {
		hints = append(hints, fmt.Sprintf("run `%s` to record the missing values", command(append([]string{"lock"}, m...)...)))
	}
	return hints
}

// manifestArg is "-m FILE", unless FILE is what a bare command reads.
func manifestArg(file string, env env) []string {
	if file == env.defaultManifest() {
		return nil
	}
	return []string{"-m", file}
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9_./=:@%+,-]+$`)

// command renders a modelfetch command line, quoting for a POSIX shell.
func command(args ...string) string {
	q := []string{"modelfetch"}
	for _, a := range args {
		if !plainArg.MatchString(a) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q = append(q, a)
	}
	return strings.Join(q, " ")
}

// lockFirst gives the models RequireLocked refused the lock command that
// records their values, naming the manifest as the run did.
func lockFirst(err error, file string, env env) error {
	var ml manifest.ErrorList
	if errors.As(err, &ml) {
		h := fmt.Sprintf("run `%s` to record its sha256 and size", command(append([]string{"lock"}, manifestArg(file, env)...)...))
		for _, e := range ml {
			if e.Hint != "" {
				e.Hint = h
			}
		}
	}
	return err
}

// missingManifest says where the manifest's name came from when the file
// does not exist: the default, or MODELFETCH_MANIFEST.
func missingManifest(err error, file string, env env) error {
	var ml manifest.ErrorList
	if !errors.As(err, &ml) || len(ml) != 1 || ml[0].Line != 0 || file != env.defaultManifest() ||
		!errors.Is(statErr(file), fs.ErrNotExist) {
		return err
	}
	if env.Manifest != "" {
		ml[0].Hint = fmt.Sprintf("MODELFETCH_MANIFEST names %s; pass -m FILE, or set MODELFETCH_MANIFEST to the manifest", file)
	} else {
		ml[0].Hint = fmt.Sprintf("without -m FILE or MODELFETCH_MANIFEST modelfetch reads %s in the current folder; pass -m FILE", file)
	}
	return err
}

// flagHint adds to a flag error the nearest flag of cmd, for a mistyped one,
// and the help that lists them all.
func flagHint(cmd *cobra.Command, err error) error {
	help := fmt.Sprintf("`%s --help` lists the flags", cmd.CommandPath())
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return &usageError{&hinted{err, help}}
	}
	name, _, _ = strings.Cut(name, "=")
	var best []string
	bestD := 3 // at most two edits away
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
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
	if len(best) > 0 {
		help = "did you mean " + strings.Join(best, " or ") + "? " + help
	}
	return &usageError{&hinted{err, help}}
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

// installFirst follows a mirror push that had no file for some models: the
// fetch (or cache warm) that makes them, for the same manifest, roots,
// models and cache.
func installFirst(o *manifestOptions, cacheDir string, env env) string {
	m := manifestArg(o.manifest, env)
	var only, cache []string
	for _, n := range o.only {
		only = append(only, "--only", n)
	}
	if cacheDir != "" {
		cache = []string{"--cache", cacheDir}
	}
	fetch := slices.Concat(m, cache)
	if o.out != "" {
		fetch = append(fetch, "--out", o.out)
	}
	for _, d := range o.dirs {
		fetch = append(fetch, "--dir", d)
	}
	warm := slices.Concat([]string{"cache", "warm"}, m, cache, only)
	return fmt.Sprintf("run `%s` (or `%s`) first", command(slices.Concat(fetch, only)...), command(warm...))
}
