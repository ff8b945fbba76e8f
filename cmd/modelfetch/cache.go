package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

func newCacheCmd(stdout, stderr io.Writer, env env) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect and manage the download cache",
		Args:  knownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("cache needs a subcommand: warm, ls, verify, prune or path")
		},
	}
	cmd.PersistentFlags().StringVar(&dir, "cache", "", "cache folder (env MODELFETCH_CACHE; default ~/.cache/modelfetch)")
	open := func() *cache.Cache { return cache.New(env.cacheDir(dir)) }
	cmd.AddCommand(
		newCacheWarmCmd(stdout, stderr, env, &dir),
		newCacheLsCmd(stdout, env, open),
		newCacheVerifyCmd(stdout, stderr, open),
		newCachePruneCmd(stderr, env, open),
		&cobra.Command{
			Use:   "path",
			Short: "Print the cache folder",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				_, err := fmt.Fprintln(stdout, open().Dir())
				return err
			},
		},
	)
	return cmd
}

func newCacheWarmCmd(stdout, stderr io.Writer, env env, dir *string) *cobra.Command {
	o := &fetchOptions{}
	cmd := &cobra.Command{
		Use:   "warm",
		Short: "Download the manifest's models into the cache without installing them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.cacheDir = *dir
			if err := o.netOptions.validate(env); err != nil {
				return err
			}
			mode, err := o.mode(env)
			if err != nil {
				return err
			}
			m, models, err := o.load(env)
			if err != nil {
				return err
			}
			if err := m.RequireLocked(models); err != nil {
				return lockFirst(err, o.manifest, env)
			}
			site, err := o.sitePlan(env, models)
			if err != nil {
				return err
			}
			rep := reporter{stdout: stdout, stderr: stderr, command: "cache warm", out: o.outputOptions, urls: o.netOptions.withMirrors(site.URLs(), models),
				hints: func(r []fetch.Result) []string { return sourceHints(r, &o.manifestOptions, env) }}
			rep.live = newProgress(stderr, mode, !o.quiet)
			results := o.fetcher(env, site, rep.live).Warm(cmd.Context(), site.Models(models))
			rep.live.finish()
			return rep.report(results, false)
		},
	}
	o.manifestOptions.addFlags(cmd.Flags(), env, "warm", false)
	o.netOptions.addFlags(cmd.Flags(), "cache", "no-cache") // --cache is the cache command's
	o.outputOptions.addFlags(cmd.Flags(), true, true)
	return cmd
}

// lockedDigests maps the sha256 of every locked model of m, selected or
// not (another run may install them), to the models' names.
func lockedDigests(m *manifest.Manifest) map[digest.Digest][]string {
	out := map[digest.Digest][]string{}
	for _, mod := range m.Models {
		if mod.Locked() {
			out[mod.SHA256] = append(out[mod.SHA256], mod.Name)
		}
	}
	return out
}

func newCacheLsCmd(stdout io.Writer, env env, open func() *cache.Cache) *cobra.Command {
	var mf string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List cached blobs (named by the manifest's models, when it loads), and junk",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return cacheLs(stdout, open(), mf)
		},
	}
	cmd.Flags().StringVarP(&mf, "manifest", "m", env.defaultManifest(), "manifest whose model names label the blobs")
	return cmd
}

// cacheLs prints c's blobs, labelled by the models of the manifest at mf
// when it loads, then its junk entries.
func cacheLs(stdout io.Writer, c *cache.Cache, mf string) error {
	entries, err := c.List()
	if err != nil {
		return err
	}
	junk, err := c.Junk()
	if err != nil {
		return err
	}
	names := map[digest.Digest][]string{}
	if m, err := manifest.Load(mf); err == nil {
		names = lockedDigests(m)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "sha256\tsize\tmodels")
	var total int64
	for _, e := range entries {
		total += e.Size
		n := names[e.Digest]
		sort.Strings(n)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Digest, humanSize(e.Size), dash(strings.Join(n, ",")))
	}
	for _, j := range junk {
		size := "-"
		if j.Size >= 0 {
			size = humanSize(j.Size)
		}
		fmt.Fprintf(tw, "%s\t%s\tjunk (%s, not a sha256)\n", j.Name, size, entryType(j.Type))
	}
	fmt.Fprintf(tw, "%s\t%s\t\n", plural(len(entries), "blob"), humanSize(total))
	if len(junk) > 0 {
		fmt.Fprintf(tw, "%d junk entries\t\tcache prune removes them\n", len(junk))
	}
	return tw.Flush()
}

// entryType names a directory entry's type in words.
func entryType(t fs.FileMode) string {
	switch {
	case t.IsRegular():
		return "file"
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t.IsDir():
		return "folder"
	case t&fs.ModeNamedPipe != 0:
		return "fifo"
	}
	return "special file"
}

func newCacheVerifyCmd(stdout, stderr io.Writer, open func() *cache.Cache) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Re-hash every cached blob; corrupt ones are removed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			checked, bad, err := open().VerifyAll(cmd.Context())
			if err != nil {
				return err
			}
			u := &ui{stderr: stderr}
			for _, b := range bad {
				id := b.Digest.String()
				if b.Name != "" {
					id = b.Name
				}
				switch {
				case b.Removed:
					u.errorf("cache: %s: %v; removed", id, b.Err)
				case b.RemoveErr != nil:
					u.errorf("cache: %s: %v; could not remove it: %v", id, b.Err, b.RemoveErr)
				default:
					u.errorf("cache: %s: %v", id, b.Err)
				}
			}
			fmt.Fprintf(stdout, "%s checked, %d bad\n", plural(checked, "blob"), len(bad))
			if len(bad) > 0 {
				return reported(kindIntegrity)
			}
			return nil
		},
	}
}

func newCachePruneCmd(stderr io.Writer, env env, open func() *cache.Cache) *cobra.Command {
	var all bool
	var mf string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove blobs the manifest no longer names (or --all), and stale temp files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var keep map[digest.Digest]bool
			if !all {
				m, err := manifest.Load(mf)
				if err != nil {
					var ml manifest.ErrorList
					if errors.As(err, &ml) && errors.Is(statErr(mf), os.ErrNotExist) {
						return usagef("cache prune keeps what %s names, and it does not exist; pass -m FILE or --all", mf)
					}
					return err
				}
				keep = map[digest.Digest]bool{}
				for d := range lockedDigests(m) {
					keep[d] = true
				}
			}
			r, err := open().Prune(keep)
			if err != nil {
				return err
			}
			junk := ""
			if r.Junk == 1 {
				junk = ", 1 junk entry"
			} else if r.Junk > 0 {
				junk = fmt.Sprintf(", %d junk entries", r.Junk)
			}
			fmt.Fprintf(stderr, "modelfetch: removed %s (%s)%s and %s\n", plural(r.Blobs, "blob"), humanSize(r.Freed), junk, plural(r.Stale, "stale file"))
			return nil
		},
	}
	cmd.Flags().StringVarP(&mf, "manifest", "m", env.defaultManifest(), "keep the blobs this manifest names")
	cmd.Flags().BoolVar(&all, "all", false, "remove every blob")
	return cmd
}

func statErr(p string) error {
	_, err := os.Stat(p)
	return err
}
