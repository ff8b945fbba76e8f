package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/djok/modelfetch/internal/netrc"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

func newRootCmd(stdout, stderr io.Writer, env env) *cobra.Command {
	opts := &fetchOptions{}
	root := &cobra.Command{
		Use:   "modelfetch",
		Short: "Fetch, verify and install the model files a models.toml lists",
		Long: `modelfetch fetches every artifact in a manifest from mirrored sources with
retries, decompresses it, enforces its SHA-256 and installs it with the right
owner and modes, or fails loudly and leaves nothing half-written.

Without a subcommand it runs fetch.`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFetch(cmd, opts, stdout, stderr, env)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	opts.addFlags(root.Flags(), env)
	root.AddCommand(
		newFetchCmd(stdout, stderr, env),
		newVerifyCmd(stdout, stderr, env),
		newLockCmd(stdout, stderr, env),
		newCacheCmd(stdout, stderr, env),
		newVersionCmd(stdout),
	)
	return root
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

func (o *manifestOptions) addFlags(fs *pflag.FlagSet, env env, roots bool) {
	fs.StringVarP(&o.manifest, "manifest", "m", env.defaultManifest(), "the manifest to read (env MODELFETCH_MANIFEST)")
	fs.StringArrayVar(&o.only, "only", nil, "fetch only the model `NAME` (repeatable)")
	if roots {
		fs.StringVar(&o.out, "out", "", "install root for dir \"models\" (replaces [dirs] models)")
		fs.StringArrayVar(&o.dirs, "dir", nil, "replace the install root `NAME=PATH` (repeatable)")
	}
}

// load reads the manifest and applies --out and --dir.
func (o *manifestOptions) load() (*manifest.Manifest, []*manifest.Model, error) {
	m, err := manifest.Load(o.manifest)
	if err != nil {
		return nil, nil, err
	}
	if o.out != "" {
		if err := m.SetDir(manifest.DefaultDir, o.out); err != nil {
			return nil, nil, &usageError{err}
		}
	}
	for _, d := range o.dirs {
		name, p, ok := strings.Cut(d, "=")
		if !ok || name == "" || p == "" {
			return nil, nil, usagef("--dir %q: want NAME=PATH", d)
		}
		if err := m.SetDir(name, p); err != nil {
			return nil, nil, &usageError{fmt.Errorf("--dir %s: %w", name, err)}
		}
	}
	if err := m.CheckDestinations(); err != nil {
		return nil, nil, err
	}
	models, err := m.Select(o.only)
	if err != nil {
		return nil, nil, &usageError{err}
	}
	return m, models, nil
}

// netOptions shape downloading.
type netOptions struct {
	jobs        int
	connections int
	retries     int
	idle        time.Duration
	cacheDir    string
	noCache     bool
	offline     bool
	noLock      bool
}

func (o *netOptions) addFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.jobs, "jobs", 4, "artifacts fetched at once")
	fs.IntVar(&o.connections, "connections", 8, "connections per large file, when its server allows ranges")
	fs.IntVar(&o.retries, "retries", 5, "retries of a transient fault per source")
	fs.DurationVar(&o.idle, "idle-timeout", 30*time.Second, "a connection silent this long is stalled")
	fs.StringVar(&o.cacheDir, "cache", "", "cache folder (env MODELFETCH_CACHE; default ~/.cache/modelfetch)")
	fs.BoolVar(&o.noCache, "no-cache", false, "neither read nor fill the cache")
	fs.BoolVar(&o.offline, "offline", false, "use only the cache; never touch the network")
	// For tests of what happens on filesystems without flock.
	fs.BoolVar(&o.noLock, "unsafe-no-lock", false, "do not lock cache entries (as on a filesystem without flock)")
	_ = fs.MarkHidden("unsafe-no-lock")
}

func (o *netOptions) validate() error {
	switch {
	case o.jobs < 1:
		return usagef("--jobs must be at least 1")
	case o.connections < 1:
		return usagef("--connections must be at least 1")
	case o.retries < 0:
		return usagef("--retries must not be negative")
	case o.idle <= 0:
		return usagef("--idle-timeout must be positive")
	case o.noCache && o.offline:
		return usagef("--offline needs the cache; drop --no-cache")
	case o.noCache && o.cacheDir != "":
		return usagef("--cache and --no-cache contradict each other")
	}
	return nil
}

func (o *netOptions) cache(env env) *cache.Cache {
	if o.noCache {
		return nil
	}
	c := cache.New(env.cacheDir())
	if o.cacheDir != "" {
		c = cache.New(o.cacheDir)
	}
	c.NoLock = o.noLock
	return c
}

// fetcher builds the engine from the options.
func (o *netOptions) fetcher(env env, obs fetch.Observer) *fetch.Fetcher {
	return fetch.New(fetch.Options{
		Jobs:        o.jobs,
		Connections: o.connections,
		Retries:     o.retries,
		IdleTimeout: o.idle,
		Cache:       o.cache(env),
		Offline:     o.offline,
		Client:      fetch.NewClient(http.ProxyFromEnvironment, credentials(env), o.idle),
		Observer:    obs,
	})
}

// credentials reads ~/.netrc (or $NETRC) and HF_TOKEN once.
func credentials(env env) fetch.Credentials {
	var entries []netrc.Entry
	if p := env.netrcPath(); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			entries = netrc.Parse(string(b))
		}
	}
	token := env.HFToken
	return func(scheme, host string) string {
		if token != "" && scheme == "https" && (host == "huggingface.co" || host == "hf.co") {
			return "Bearer " + token
		}
		if e, ok := netrc.Find(entries, host); ok && e.Login != "" {
			r := http.Request{Header: http.Header{}}
			r.SetBasicAuth(e.Login, e.Password)
			return r.Header.Get("Authorization")
		}
		return ""
	}
}

// outputOptions shape what is printed.
type outputOptions struct {
	progress string
	json     bool
}

func (o *outputOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.progress, "progress", "auto", "progress display: auto, bar, plain or none")
	fs.BoolVar(&o.json, "json", false, "print one JSON result document on stdout")
}

func (o *outputOptions) mode(env env) (progressMode, error) {
	switch o.progress {
	case "auto":
		if env.IsTerminal != nil && env.IsTerminal() {
			return progressBar, nil
		}
		return progressPlain, nil
	case "bar":
		return progressBar, nil
	case "plain":
		return progressPlain, nil
	case "none":
		return progressNone, nil
	}
	return 0, usagef("--progress %q: want auto, bar, plain or none", o.progress)
}

type fetchOptions struct {
	manifestOptions
	netOptions
	outputOptions
	owner  string
	dryRun bool
}

func (o *fetchOptions) addFlags(fs *pflag.FlagSet, env env) {
	o.manifestOptions.addFlags(fs, env, true)
	o.netOptions.addFlags(fs)
	o.outputOptions.addFlags(fs)
	fs.StringVar(&o.owner, "owner", "", "numeric `UID:GID` for installed files (overrides the manifest)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "say what would be done; change nothing")
}

// targets validates the whole request before anything is fetched.
func (o *fetchOptions) targets(env env) ([]fetch.Target, error) {
	if err := o.netOptions.validate(); err != nil {
		return nil, err
	}
	var owner *manifest.Owner
	if o.owner != "" {
		var err error
		if owner, err = manifest.ParseOwner(o.owner); err != nil {
			return nil, &usageError{fmt.Errorf("--owner: %w", err)}
		}
	}
	m, models, err := o.load()
	if err != nil {
		return nil, err
	}
	if err := m.RequireLocked(models); err != nil {
		return nil, err
	}
	// The manifest's owner applies when we can give files away (root); an
	// explicit --owner is always attempted, and fails loudly if it cannot.
	return fetch.Targets(m, models, owner, env.IsRoot || owner != nil)
}

func runFetch(cmd *cobra.Command, o *fetchOptions, stdout, stderr io.Writer, env env) error {
	mode, err := o.mode(env)
	if err != nil {
		return err
	}
	targets, err := o.targets(env)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if o.dryRun {
		results := o.fetcher(env, nil).DryRun(ctx, targets)
		return report(stdout, stderr, "fetch", o.json, results, true)
	}
	p := newProgress(stderr, mode)
	results := o.fetcher(env, p).Install(ctx, targets)
	p.finish()
	return report(stdout, stderr, "fetch", o.json, results, false)
}

// report prints the summary (or JSON) and turns the results into the exit.
func report(stdout, stderr io.Writer, command string, asJSON bool, results []fetch.Result, dry bool) error {
	code := resultsExit(results)
	u := &ui{stderr: stderr}
	if asJSON {
		if err := writeJSON(stdout, command, code, results); err != nil {
			return err
		}
	} else {
		u.summary(results, dry)
	}
	u.resultErrors(results)
	if code != exitOK {
		return &exitError{code: code, err: errReported}
	}
	return nil
}
