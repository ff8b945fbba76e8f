package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/internal/display"
	"github.com/djok/modelfetch/internal/hints"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/rules"
)

type lockOptions struct {
	netOptions
	outputOptions
	manifest    string
	check       bool
	update      []string
	firstSource bool
	maxSize     int64
	download    bool
}

func newLockCmd(stderr io.Writer, env env) *cobra.Command {
	o := &lockOptions{}
	cmd := &cobra.Command{
		Use:   "lock [NAME...]",
		Short: "Record sha256 and size of each model in the manifest, in place",
		Long: `lock downloads what each source serves and writes the sha256 and size of
the installed bytes (and of the bytes as served, for [[models.NAME.sources]]
entries) into the manifest, keeping everything else byte for byte.

Without NAMEs it fetches only models that lack a value; a NAME is checked
against its sources even when complete. A recorded value that no longer
matches is reported and kept (exit 3) unless --update allows replacing it:
--update=NAME checks and updates NAME, --update alone every model.
Every source of a model must serve the same bytes (--first-source skips that).
An hf:// source's branch or tag is pinned to its commit (the model's pins);
its LFS files are recorded from the Hub's metadata, without downloading them
(--download downloads them anyway). --update=NAME moves NAME's pins too.
--check changes nothing: exit 4 when a value is missing, 3 when a source no
longer serves what is recorded.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLock(cmd, o, args, stderr, env)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.manifest, "manifest", "m", env.defaultManifest(), "the manifest to lock (env MODELFETCH_MANIFEST)")
	fs.BoolVar(&o.check, "check", false, "change nothing; exit 4 if not fully locked, 3 if a source disagrees with the record")
	fs.StringArrayVar(&o.update, "update", nil, "check and replace recorded values that changed upstream: of every model, or with --update=`NAME` of NAME (repeatable)")
	fs.Lookup("update").NoOptDefVal = "*"
	fs.BoolVar(&o.firstSource, "first-source", false, "record what the first working source serves; do not compare the others")
	fs.Int64Var(&o.maxSize, "max-size", lock.DefaultMaxSize, "most `BYTES` decoded from a source of a model without a trusted size")
	fs.BoolVar(&o.download, "download", false, "download and hash hf:// files too, trusting no hub metadata")
	o.netOptions.addFlags(fs, "offline", "mirror", "mirror-only") // lock reads the origins: it records what they serve
	o.outputOptions.addFlags(fs, true, false)
	help := cmd.HelpFunc()
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		// pflag writes an optional value as "--update NAME[=*]", which reads
		// as if "--update NAME" worked; it is "--update" or "--update=NAME".
		out, b := c.OutOrStdout(), &strings.Builder{}
		c.SetOut(b)
		help(c, args)
		c.SetOut(out)
		fmt.Fprint(out, strings.Replace(b.String(), "--update NAME[=*]", "--update[=NAME]  ", 1))
	})
	return cmd
}

func runLock(cmd *cobra.Command, o *lockOptions, names []string, stderr io.Writer, env env) error {
	if err := o.netOptions.validate(env); err != nil {
		return err
	}
	mode, err := o.mode(env)
	if err != nil {
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
		return missingManifest(err, o.manifest, env)
	}
	models, lo, err := o.selection(m, names)
	if err != nil {
		return err
	}
	// A model the url rules block stops the run before anything is read,
	// when lock would read it.
	site, err := o.sitePlan(env, models)
	var blocked rules.Blocked
	if err != nil && !errors.As(err, &blocked) {
		return err
	}
	if b := lo.Blocked(models, blocked); len(b) > 0 {
		return &kindError{kind: kindNetwork, err: b}
	}
	p := display.NewProgress(stderr, mode, !o.quiet)
	f := o.fetcher(env, site, p)
	hub := lock.HubProber{Next: display.ShowProbes(f, p), Hub: f, Download: o.download}
	lo.Resolver = pinResolvers(hub, func() *fetch.Fetcher { return f })
	rep, err := lock.Run(cmd.Context(), lock.UnderRules(hub, site.Site), models, lo)
	p.Finish()
	if err != nil {
		return err
	}
	return o.finish(cmd.Context(), m, src, rep, &display.UI{Stderr: stderr}, env)
}

// selection is what lock checks (lock.Select): --update alone (NoOptDefVal
// "*") updates every model.
func (o *lockOptions) selection(m *manifest.Manifest, names []string) ([]*manifest.Model, lock.Options, error) {
	update := slices.DeleteFunc(slices.Clone(o.update), func(u string) bool { return u == "*" })
	models, lo, err := lock.Select(m, names, update, len(update) < len(o.update))
	var unknown *lock.UnknownModelError
	switch {
	case errors.As(err, &unknown):
		return nil, lo, usagef("--update %s", err)
	case err != nil:
		return nil, lo, &usageError{err}
	}
	lo.FirstSource, lo.Check, lo.MaxSize, lo.Jobs = o.firstSource, o.check, o.maxSize, o.jobs
	return models, lo, nil
}

// finish prints the findings, writes the edits and decides the exit.
func (o *lockOptions) finish(ctx context.Context, m *manifest.Manifest, src []byte, rep *lock.Report, u *display.UI, env env) error {
	errs := 0
	for _, f := range rep.Findings {
		if f.Kind == lock.Changed && !f.Kept {
			u.Infof(o.quiet, "%s", f)
			continue
		}
		if errs++; errs <= manifest.MaxErrors {
			u.Errorf("%s", f)
		}
	}
	if errs > manifest.MaxErrors {
		u.Errorf("%s", display.MoreProblems(errs-manifest.MaxErrors))
	}
	written := 0
	if !o.check {
		// Serialised with other writers of this manifest by a lock in the
		// cache folder (even with --no-cache: it holds no blob), re-read
		// under that lock.
		var err error
		if written, err = rep.Write(ctx, o.manifest, src, env.cacheDir(o.cacheDir)); err != nil {
			return err
		}
	}
	if written > 0 {
		u.Infof(o.quiet, "lock: wrote %s to %s (%s)", display.Plural(written, "value"), o.manifest, display.NameList(rep.Locked))
	} else if !o.check && len(rep.Edits) == 0 && len(rep.Findings) == 0 {
		u.Infof(o.quiet, "lock: %s is up to date", o.manifest)
	}
	for _, h := range hints.Lock(rep.Findings, hints.Run{Manifest: o.manifest, ManifestArgs: manifestArg(o.manifest, env)}) {
		u.Hintf("%s", h)
	}
	return reported(lockKind(rep.Outcome()))
}
