package main

// modelfetch mirror push, and fetch --mirror-push: fill a registry mirror
// with the models of a manifest, from their installed files or the cache.

import (
	"context"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/internal/display"
	"github.com/djok/modelfetch/internal/hints"
	"github.com/djok/modelfetch/internal/retry"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/mirror"
)

func newMirrorCmd(stdout, stderr io.Writer, env env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mirror",
		Short: "Fill a registry mirror with the manifest's models",
		Args:  knownCommand,
		RunE: func(*cobra.Command, []string) error {
			return usagef("mirror needs a subcommand: push")
		},
	}
	cmd.AddCommand(newMirrorPushCmd(stdout, stderr, env))
	return cmd
}

type pushOptions struct {
	manifestOptions
	outputOptions
	cacheDir string
	retries  int
	idle     time.Duration
}

func newMirrorPushCmd(stdout, stderr io.Writer, env env) *cobra.Command {
	o := &pushOptions{}
	cmd := &cobra.Command{
		Use:   "push oci://HOST[:PORT]/REPO[:TAG]",
		Short: "Upload every model that is installed or cached to a registry, and tag a manifest listing them",
		Long: `Uploads each model's file as one blob whose digest is its sha256 (a blob the
registry has is not uploaded again), then tags one OCI manifest (CNCF ModelPack
media types) listing them, so the registry's garbage collection keeps them.
Files come from the install roots, else from the cache; their bytes are
checked against the manifest while they are uploaded.

oci+http:// speaks plain http (a loopback or lab registry). Credentials come
from the Docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json,
with its credential helpers). Blobs already in another repository of the same
registry named in MODELFETCH_MIRRORS are mounted rather than uploaded.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMirrorPush(cmd.Context(), o, args[0], stdout, stderr, env)
		},
	}
	o.manifestOptions.addFlags(cmd.Flags(), env, "push", true)
	o.outputOptions.addFlags(cmd.Flags(), false, true)
	cmd.Flags().StringVar(&o.cacheDir, "cache", "", "cache folder to read files missing from the install roots (env MODELFETCH_CACHE)")
	cmd.Flags().IntVar(&o.retries, "retries", retry.DefaultRetries, "retries of a transient fault per file")
	cmd.Flags().DurationVar(&o.idle, "idle-timeout", mirror.DefaultIdleTimeout, "a registry silent this long (no answer, no byte taken or sent) fails that try")
	return cmd
}

func runMirrorPush(ctx context.Context, o *pushOptions, spec string, stdout, stderr io.Writer, env env) error {
	target, err := mirror.Parse(spec)
	switch {
	case err != nil:
		return &usageError{err}
	case target.Kind != mirror.OCI:
		return usagef("mirror push: %s is not a registry: want oci://HOST/REPO[:TAG]", target)
	case o.retries < 0:
		return usagef("--retries must not be negative")
	case o.idle <= 0:
		return usagef("--idle-timeout must be positive")
	}
	_, targets, err := o.manifestOptions.targets(env)
	if err != nil {
		return err
	}
	c := cache.New(env.cacheDir(o.cacheDir))
	u := &display.UI{Stderr: stderr}
	opts := pushOptionsFor(env, nil, target, o.manifest, o.retries, o.idle)
	opts.Observer = func(r mirror.BlobResult) {
		if r.Err == nil {
			u.Infof(o.quiet || o.json, "%s: %s %s", r.Blob.Name, r.Status, display.HumanSize(r.Blob.Size))
		}
	}
	pushed, missing, err := mirror.PushInstalled(ctx, target, fetch.InstalledFiles(targets), c, opts)
	if ctx.Err() != nil {
		return ctx.Err() // interrupted: the signal's exit status and line
	}
	kind := pushKind(pushed, err, missing)
	code := kind.code()
	probs := display.PushProblems(pushed, err, missing, hints.InstallFirst(o.hintRun(env), o.cacheDir))
	if o.json {
		if jerr := display.WritePushJSON(stdout, code, pushed, probs); jerr != nil {
			return jerr
		}
	} else if pushed != nil && err == nil && !o.quiet {
		u.Infof(false, "%s", display.PushSummary(pushed, len(missing)))
	}
	for _, p := range probs {
		u.Errorf("%s", p.Message)
		if p.Hint != "" {
			u.Hintf("%s", p.Hint)
		}
	}
	return reported(kind)
}

// pushOptionsFor is how a push to target goes: with cred (nil: the Docker
// config's), mounting from the other repositories of the same registry that
// MODELFETCH_MIRRORS names, retrying transient faults as downloads do, each
// request bounded by the idle timeout.
func pushOptionsFor(env env, cred auth.CredentialFunc, target mirror.Mirror, manifestPath string, retries int, idle time.Duration) mirror.PushOptions {
	if p := env.dockerConfig(); cred == nil && p != "" {
		cred = mirror.DockerCredentials(p)
	}
	others, _ := mirror.ParseList(env.Mirrors) // checked where it is used for fetching
	client := fetch.NewClient(http.ProxyFromEnvironment, nil, idle)
	return mirror.PushOptions{Client: client, Credential: cred, MountFrom: mirror.MountSources(target, others),
		Title: path.Base(manifestPath), Retries: retries, IdleTimeout: idle}
}

// mirrorPush is fetch --mirror-push: the files the run installed (or found
// installed) go to the first registry mirror, so the first builder fills
// the mirror for the others. Blobs the registry has are only HEADed. It
// never fails the fetch: what went wrong is a warning.
func mirrorPush(ctx context.Context, o *fetchOptions, env env, targets []fetch.Target, results []fetch.Result, u *display.UI) *display.Push {
	target, _ := mirror.FirstRegistry(o.mirrors) // checked with the flags
	files, left := fetch.Pushable(targets, results)
	// The run's own credentials: a registry already given up on is not
	// asked again.
	opts := pushOptionsFor(env, o.registry, target, o.manifest, o.retries, o.idle)
	opts.Incomplete = left > 0
	r, none, err := mirror.PushInstalled(ctx, target, files, nil, opts)
	missing := left + len(none)
	if r == nil && err == nil {
		return nil // no file to push
	}
	if err != nil {
		u.Warnf("%s", display.OneLine(err))
	}
	if r != nil && err == nil && !o.quiet && !o.json {
		u.Infof(false, "%s", display.PushSummary(r, missing))
	}
	return display.PushJSON(target, r, err, missing)
}
