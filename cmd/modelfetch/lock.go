package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
)

type lockOptions struct {
	netOptions
	manifest    string
	check       bool
	update      []string
	firstSource bool
	maxSize     int64
}

func newLockCmd(stdout, stderr io.Writer, env env) *cobra.Command {
	o := &lockOptions{}
	cmd := &cobra.Command{
		Use:   "lock [NAME...]",
		Short: "Record sha256 and size of each model in the manifest, in place",
		Long: `lock downloads what each source serves and writes the sha256 and size of
the installed bytes (and of the bytes as served, for [[models.NAME.sources]]
entries) into the manifest, keeping everything else byte for byte.

Without NAMEs it fetches only models that lack a value; a NAME is checked
against its sources even when complete. A recorded value that no longer
matches is reported and kept (exit 3) unless --update allows replacing it.
Every source of a model must serve the same bytes (--first-source skips that).
--check changes nothing: exit 4 when a value is missing, 3 when a source no
longer serves what is recorded.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLock(cmd, o, args, stderr, env)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.manifest, "manifest", "m", env.defaultManifest(), "the manifest to lock (env MODELFETCH_MANIFEST)")
	fs.BoolVar(&o.check, "check", false, "change nothing; exit 4 if not fully locked, 3 if a source disagrees with the record")
	fs.StringArrayVar(&o.update, "update", nil, "replace recorded values that changed upstream: for every model, or with --update=`NAME` for one")
	fs.Lookup("update").NoOptDefVal = "*"
	fs.BoolVar(&o.firstSource, "first-source", false, "record what the first working source serves; do not compare the others")
	fs.Int64Var(&o.maxSize, "max-size", lock.DefaultMaxSize, "most `BYTES` decoded from a source of a model without a trusted size")
	fs.IntVar(&o.connections, "connections", 8, "connections per large file, when its server allows ranges")
	fs.IntVar(&o.retries, "retries", 5, "retries of a transient fault per source")
	fs.DurationVar(&o.idle, "idle-timeout", 30e9, "a connection silent this long is stalled")
	fs.StringVar(&o.cacheDir, "cache", "", "cache folder to fill (env MODELFETCH_CACHE; default ~/.cache/modelfetch)")
	fs.BoolVar(&o.noCache, "no-cache", false, "do not fill the cache")
	return cmd
}

func runLock(cmd *cobra.Command, o *lockOptions, names []string, stderr io.Writer, env env) error {
	o.jobs = 1
	if err := o.netOptions.validate(); err != nil {
		return err
	}
	if o.check && len(o.update) > 0 {
		return usagef("--check changes nothing; drop --update")
	}
	if o.maxSize <= 0 || o.maxSize > manifest.MaxSize {
		return usagef("--max-size must be between 1 and %d bytes", int64(manifest.MaxSize))
	}
	m, src, err := manifest.ReadFile(o.manifest)
	if err != nil {
		return err
	}
	models, err := m.Select(names)
	if err != nil {
		return &usageError{err}
	}
	lo := lock.Options{Named: map[string]bool{}, Update: map[string]bool{}, FirstSource: o.firstSource, Check: o.check, MaxSize: o.maxSize}
	for _, n := range names {
		lo.Named[n] = true
	}
	for _, u := range o.update {
		if u == "*" {
			lo.UpdateAll = true
			continue
		}
		if m.Model(u) == nil {
			return usagef("--update %s: no model of that name in %s", u, o.manifest)
		}
		lo.Update[u] = true
	}
	rep, err := lock.Run(cmd.Context(), o.fetcher(env, nil), models, lo)
	if err != nil {
		return err
	}
	written := 0
	if !o.check {
		// Serialised with other writers of this manifest by a lock file in
		// the cache folder (even with --no-cache: it holds no blob).
		lockDir := env.cacheDir()
		if o.cacheDir != "" {
			lockDir = o.cacheDir
		}
		if written, err = rep.Write(cmd.Context(), o.manifest, src, lockDir); err != nil {
			return err
		}
		if rep.Unserialised != nil {
			fmt.Fprintf(stderr, "modelfetch: warning: %v; wrote without waiting for other lock runs\n", rep.Unserialised)
		}
	}
	u := &ui{stderr: stderr}
	for _, f := range rep.Findings {
		if f.Kind == lock.Changed && !f.Kept {
			fmt.Fprintf(stderr, "modelfetch: %s\n", f)
			continue
		}
		u.errorf("%s", f)
	}
	if written > 0 {
		fmt.Fprintf(stderr, "modelfetch: lock: wrote %d values to %s (%s)\n", written, o.manifest, strings.Join(rep.Locked, ", "))
	} else if len(rep.Findings) == 0 {
		fmt.Fprintf(stderr, "modelfetch: lock: %s is up to date\n", o.manifest)
	}
	switch rep.ExitKind() {
	case "integrity":
		u.hintf("a source no longer serves the recorded bytes, or mirrors disagree; if the change is expected, run `modelfetch lock --update=NAME NAME` and review the diff")
		return &exitError{code: exitIntegrity, err: errReported}
	case "network":
		return &exitError{code: exitNetwork, err: errReported}
	case "incomplete":
		u.hintf("run `modelfetch lock` to record the missing values")
		return &exitError{code: exitStale, err: errReported}
	}
	return nil
}
