package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/internal/prune"
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
	open := func() *cache.Cache {
		if dir != "" {
			return cache.New(dir)
		}
		return cache.New(env.cacheDir())
	}
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
			m, models, err := o.load()
			if err != nil {
				return err
			}
			if err := m.RequireLocked(models); err != nil {
				return err
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

// namesByDigest maps digests to the models of the manifest, when one loads.
func namesByDigest(path string) map[digest.Digest][]string {
	out := map[digest.Digest][]string{}
	m, err := manifest.Load(path)
	if err != nil {
		return out
	}
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
		Short: "List cached blobs (named by the manifest's models, when it loads)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			entries, err := open().List()
			if err != nil {
				return err
			}
			names := namesByDigest(mf)
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "sha256\tsize\tmodels")
			var total int64
			for _, e := range entries {
				total += e.Size
				n := names[e.Digest]
				sort.Strings(n)
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Digest, humanSize(e.Size), dash(strings.Join(n, ",")))
			}
			fmt.Fprintf(tw, "%d blobs\t%s\t\n", len(entries), humanSize(total))
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&mf, "manifest", "m", env.defaultManifest(), "manifest whose model names label the blobs")
	return cmd
}

func newCacheVerifyCmd(stdout, stderr io.Writer, open func() *cache.Cache) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Re-hash every cached blob; corrupt ones are removed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			checked, bad, err := prune.Corrupt(cmd.Context(), open())
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
			fmt.Fprintf(stdout, "%d blobs checked, %d bad\n", checked, len(bad))
			if len(bad) > 0 {
				return &exitError{code: exitIntegrity, err: errReported}
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
				keep = prune.Keep(m)
			}
			r, err := prune.Run(open(), keep)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "modelfetch: removed %d blobs (%s) and %d stale files\n", r.Blobs, humanSize(r.Freed), r.Stale)
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
