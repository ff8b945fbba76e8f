package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/internal/display"
	"github.com/djok/modelfetch/internal/hints"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/mirror"
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
				return hints.LockFirst(err, o.hintRun(env))
			}
			site, err := o.sitePlan(env, models)
			if err != nil {
				return err
			}
			rep := reporter{stdout: stdout, stderr: stderr, command: "cache warm", out: o.outputOptions, urls: mirror.TriedURLs(o.mirrors, o.mirrorOnly, site.URLs(), models),
				hints: func(r []fetch.Result) []string { return hints.Sources(r, o.hintRun(env)) }}
			rep.live = display.NewProgress(stderr, mode, !o.quiet)
			results := o.fetcher(env, site, rep.live).Warm(cmd.Context(), site.Models(models))
			rep.live.Finish()
			return rep.report(results, false)
		},
	}
	o.manifestOptions.addFlags(cmd.Flags(), env, "warm", false)
	o.netOptions.addFlags(cmd.Flags(), "cache", "no-cache") // --cache is the cache command's
	o.outputOptions.addFlags(cmd.Flags(), true, true)
	return cmd
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
	var names map[digest.Digest][]string
	if m, err := manifest.Load(mf); err == nil {
		names = m.LockedDigests()
	}
	l, err := c.Listing(names)
	if err != nil {
		return err
	}
	return display.CacheTable(stdout, l)
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
			(&display.UI{Stderr: stderr}).BadBlobs(bad)
			fmt.Fprintf(stdout, "%s checked, %d bad\n", display.Plural(checked, "blob"), len(bad))
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
				keep = cache.Keep(m.LockedDigests())
			}
			r, err := open().Prune(keep)
			if err != nil {
				return err
			}
			fmt.Fprintln(stderr, display.Pruned(r))
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
