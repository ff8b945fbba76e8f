package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/djok/modelfetch/internal/display"
	"github.com/djok/modelfetch/internal/hints"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/mirror"
)

func newRootCmd(stdout, stderr io.Writer, env env) *cobra.Command {
	opts := &fetchOptions{}
	root := &cobra.Command{
		Use:   "modelfetch",
		Short: "Fetch, verify and install the model files a models.toml lists",
		Long: `modelfetch fetches every artifact in a manifest from mirrored sources with
retries, decompresses it, enforces its SHA-256 and installs it with the right
owner and modes, or fails loudly and leaves nothing half-written.

Without a subcommand it runs fetch.

Environment: MODELFETCH_MANIFEST, MODELFETCH_CACHE, MODELFETCH_URL_RULES
(the url rules file, as --url-rules), MODELFETCH_MIRRORS (space-separated
mirrors, as --mirror), DOCKER_CONFIG (the folder of the config.json registry
credentials come from; default ~/.docker), the proxy variables,
~/.netrc (or NETRC) and HF_TOKEN (for huggingface.co and hf.co). The netrc
default entry goes only over https to hosts the manifest names;
MODELFETCH_NETRC_DEFAULT=any sends it to every https host. hf:// sources are
read from HF_ENDPOINT (default https://huggingface.co), with HF_TOKEN over
https to that host only; HF_HUB_OFFLINE=1 means --offline.`,
		Version:       version,
		Args:          knownCommand,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFetch(cmd, opts, stdout, stderr, env)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate(versionText())
	root.SetFlagErrorFunc(flagHint)
	opts.addFlags(root.Flags(), env)
	root.AddCommand(
		newFetchCmd(stdout, stderr, env),
		newVerifyCmd(stdout, stderr, env),
		newLockCmd(stderr, env),
		newAddCmd(stderr, env),
		newCacheCmd(stdout, stderr, env),
		newMirrorCmd(stdout, stderr, env),
		newVersionCmd(stdout),
	)
	usageArgs(root)
	return root
}

// knownCommand refuses arguments where a subcommand was expected, with the
// nearest command names as a hint.
func knownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	err := &usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return &hinted{err, "did you mean " + strings.Join(quoteAll(s), " or ") + "?"}
	}
	return err
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

func newFetchCmd(stdout, stderr io.Writer, env env) *cobra.Command {
	opts := &fetchOptions{}
	cmd := &cobra.Command{
		Use:   "fetch",
		Short: "Install every artifact (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFetch(cmd, opts, stdout, stderr, env)
		},
	}
	opts.addFlags(cmd.Flags(), env)
	return cmd
}

// manifestOptions select a manifest, its roots and its models.
type manifestOptions struct {
	manifest string
	out      string
	dirs     []string
	only     []string
}

// addFlags declares -m and --only ("VERB only the model NAME") and, with
// roots, --out and --dir.
func (o *manifestOptions) addFlags(fs *pflag.FlagSet, env env, verb string, roots bool) {
	fs.StringVarP(&o.manifest, "manifest", "m", env.defaultManifest(), "the manifest to read (env MODELFETCH_MANIFEST)")
	fs.StringArrayVar(&o.only, "only", nil, verb+" only the model `NAME` (repeatable)")
	if roots {
		fs.StringVar(&o.out, "out", "", "install root for dir \"models\" (replaces [dirs] models)")
		fs.StringArrayVar(&o.dirs, "dir", nil, "replace the install root `NAME=PATH` (repeatable)")
	}
}

// load reads the manifest and applies --out, --dir and --only.
func (o *manifestOptions) load(env env) (*manifest.Manifest, []*manifest.Model, error) {
	m, err := manifest.Load(o.manifest)
	if err != nil {
		return nil, nil, missingManifest(err, o.manifest, env)
	}
	models, err := m.Apply(manifest.Selection{Out: o.out, Dirs: o.dirs, Only: o.only})
	if err != nil {
		return nil, nil, err
	}
	return m, models, nil
}

type fetchOptions struct {
	manifestOptions
	netOptions
	outputOptions
	owner      string
	dryRun     bool
	mirrorPush bool
}

func (o *fetchOptions) addFlags(fs *pflag.FlagSet, env env) {
	o.manifestOptions.addFlags(fs, env, "fetch", true)
	o.netOptions.addFlags(fs)
	o.outputOptions.addFlags(fs, true, true)
	fs.StringVar(&o.owner, "owner", "", "numeric `UID:GID` for installed files (overrides the manifest)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "say what would be done; change nothing")
	fs.BoolVar(&o.mirrorPush, "mirror-push", false, "then push the installed files to the first oci:// mirror (HEAD first: what it has is not uploaded)")
}

// targets validates the whole request before anything is fetched. The
// targets' models have their sources after the url rules (site).
func (o *fetchOptions) targets(env env) (*sitePlan, []fetch.Target, error) {
	if err := o.netOptions.validate(env); err != nil {
		return nil, nil, err
	}
	switch {
	case o.mirrorPush && !mirror.HasRegistry(o.mirrors):
		return nil, nil, usagef("--mirror-push needs an oci:// mirror (--mirror or MODELFETCH_MIRRORS)")
	case o.mirrorPush && o.offline:
		return nil, nil, usagef("--mirror-push and --offline contradict each other: a push needs the network")
	}
	m, models, owner, err := o.manifestOptions.selected(o.owner, env)
	if err != nil {
		return nil, nil, err
	}
	site, blocked := o.sitePlan(env, models)
	if site == nil {
		return nil, nil, blocked
	}
	// The manifest's owner applies when we can give files away (root); an
	// explicit --owner is always attempted, and fails loudly if it cannot.
	targets, err := fetch.Targets(m, site.Models(models), owner, env.IsRoot || owner != nil)
	if err != nil {
		return site, nil, err
	}
	// A model whose every URL the rules block fails the run; the targets
	// come along for a dry run, which shows every model first.
	return site, targets, blocked
}

// targets resolves where each selected model goes, as the manifest names
// its sources (verify: no network, so no url rules).
func (o *manifestOptions) targets(env env) (*manifest.Manifest, []fetch.Target, error) {
	m, models, owner, err := o.selected("", env)
	if err != nil {
		return nil, nil, err
	}
	targets, err := fetch.Targets(m, models, owner, env.IsRoot)
	return m, targets, err
}

// selected loads the manifest and the models asked for, each fully locked
// and with a root that is or can be a folder; ownerFlag is --owner ("" for
// none).
func (o *manifestOptions) selected(ownerFlag string, env env) (*manifest.Manifest, []*manifest.Model, *manifest.Owner, error) {
	var owner *manifest.Owner
	if ownerFlag != "" {
		var err error
		if owner, err = manifest.ParseOwner(ownerFlag); err != nil {
			return nil, nil, nil, &usageError{fmt.Errorf("--owner: %w", err)}
		}
	}
	m, models, err := o.load(env)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := o.checkRoots(m, models); err != nil {
		return nil, nil, nil, err
	}
	if err := m.RequireLocked(models); err != nil {
		return nil, nil, nil, hints.LockFirst(err, o.hintRun(env))
	}
	return m, models, owner, nil
}

func runFetch(cmd *cobra.Command, o *fetchOptions, stdout, stderr io.Writer, env env) error {
	mode, err := o.mode(env)
	if err != nil {
		return err
	}
	site, targets, err := o.targets(env)
	if err != nil && !(o.dryRun && targets != nil) {
		return err
	}
	blocked := err
	rep := reporter{stdout: stdout, stderr: stderr, command: "fetch", out: o.outputOptions,
		urls: mirror.TriedURLs(o.mirrors, o.mirrorOnly, site.URLs(), fetch.Models(targets)),
		hints: func(r []fetch.Result) []string {
			run := o.hintRun(env)
			run.NoCache, run.Cache = o.noCache, o.cacheDir
			return hints.Sources(r, run)
		}}
	if o.dryRun {
		results := markBlocked(o.fetcher(env, site, nil).DryRun(cmd.Context(), targets), site)
		if !o.json && !o.quiet {
			(&display.UI{Stderr: stderr}).DryRunURLs(fetch.Models(targets), rep.urls, func(n string) []string { return site.Plans[n].Blocked })
		}
		rep.blocked = blocked
		return rep.report(results, true)
	}
	rep.live = display.NewProgress(stderr, mode, !o.quiet)
	results := o.fetcher(env, site, rep.live).Install(cmd.Context(), targets)
	rep.live.Finish()
	if o.mirrorPush && cmd.Context().Err() == nil {
		rep.push = mirrorPush(cmd.Context(), o, env, targets, results, &display.UI{Stderr: stderr})
	}
	return rep.report(results, false)
}

// statusBlocked is what a dry run says of a model the url rules leave no
// URL to: the real run fails on it.
const statusBlocked fetch.Status = "blocked"

func markBlocked(results []fetch.Result, site *sitePlan) []fetch.Result {
	for i, r := range results {
		if p := site.Plans[r.Name]; p != nil && len(p.Candidates) == 0 && len(p.Blocked) > 0 {
			results[i].Status, results[i].Source = statusBlocked, ""
		}
	}
	return results
}
