package main

// modelfetch mirror push, and fetch --mirror-push: fill a registry mirror
// with the models of a manifest, from their installed files or the cache.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote/auth"

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
	}
	_, targets, err := o.manifestOptions.targets(env)
	if err != nil {
		return err
	}
	c := cache.New(env.cacheDir(o.cacheDir))
	u := &ui{stderr: stderr}
	opts := pushOptionsFor(env, nil, target, o.manifest, o.retries)
	opts.Observer = func(r mirror.BlobResult) {
		if r.Err == nil {
			u.infof(o.quiet || o.json, "%s: %s %s", r.Blob.Name, r.Status, humanSize(r.Blob.Size))
		}
	}
	pushed, missing, err := mirror.PushInstalled(ctx, target, installedFiles(targets), c, opts)
	if ctx.Err() != nil {
		return ctx.Err() // interrupted: the signal's exit status and line
	}
	kind := pushKind(pushed, err, missing)
	code := kind.code()
	probs := pushProblems(pushed, err, missing, installFirst(&o.manifestOptions, o.cacheDir, env))
	if o.json {
		if jerr := writePushJSON(stdout, code, pushed, probs); jerr != nil {
			return jerr
		}
	} else if pushed != nil && err == nil && !o.quiet {
		u.infof(false, "%s", pushSummary(pushed, len(missing)))
	}
	for _, p := range probs {
		u.errorf("%s", p.Message)
		if p.Hint != "" {
			u.hintf("%s", p.Hint)
		}
	}
	return reported(kind)
}

// pushProblems are mirror push's error lines: each file not pushed, each
// model without a file, and what stopped the push.
func pushProblems(r *mirror.PushReport, err error, missing []mirror.Missing, hint string) []problem {
	var out []problem
	if r != nil {
		for _, b := range r.Blobs {
			if b.Err != nil {
				out = append(out, problem{Message: b.Blob.Name + ": " + oneLine(b.Err)})
			}
		}
	}
	if err != nil {
		out = append(out, problem{Message: oneLine(err)})
	}
	for _, m := range missing {
		out = append(out, problem{Message: m.Reason})
	}
	if len(missing) > 0 {
		out[len(out)-1].Hint = hint
	}
	return out
}

// installedFiles are the targets as pkg/mirror takes them.
func installedFiles(targets []fetch.Target) []mirror.Installed {
	out := make([]mirror.Installed, 0, len(targets))
	for _, t := range targets {
		out = append(out, mirror.Installed{Model: t.Model, Root: t.Root})
	}
	return out
}

// pushOptionsFor is how a push to target goes: with cred (nil: the Docker
// config's), mounting from the other repositories of the same registry that
// MODELFETCH_MIRRORS names, retrying transient faults as downloads do.
func pushOptionsFor(env env, cred auth.CredentialFunc, target mirror.Mirror, manifestPath string, retries int) mirror.PushOptions {
	if p := env.dockerConfig(); cred == nil && p != "" {
		cred = mirror.DockerCredentials(p)
	}
	others, _ := mirror.ParseList(env.Mirrors) // checked where it is used for fetching
	// The registry may take a while to answer once a large upload is in:
	// it checks the digest.
	client := fetch.NewClient(http.ProxyFromEnvironment, nil, 5*time.Minute)
	return mirror.PushOptions{Client: client, Credential: cred, MountFrom: mirror.MountSources(target, others),
		Title: path.Base(manifestPath), Retries: retries}
}

// pushCounts counts the blobs of a push by status.
func pushCounts(r *mirror.PushReport) map[mirror.BlobStatus]int {
	n := map[mirror.BlobStatus]int{}
	for _, b := range r.Blobs {
		n[b.Status]++
	}
	return n
}

func pushSummary(r *mirror.PushReport, missing int) string {
	n := pushCounts(r)
	counts := fmt.Sprintf("%d uploaded, %d mounted, %d already there, %d failed",
		n[mirror.BlobUploaded], n[mirror.BlobMounted], n[mirror.BlobPresent], n[mirror.BlobFailed])
	switch {
	case r.Manifest.IsZero():
		return fmt.Sprintf("mirror push: %s: %s, %d with no file; not tagged: the set is incomplete", r.Reference, counts, missing)
	case r.ManifestExisted:
		return fmt.Sprintf("mirror push: already tagged %s (sha256:%s): %s", r.Reference, r.Manifest, counts)
	}
	return fmt.Sprintf("mirror push: tagged %s (sha256:%s): %s", r.Reference, r.Manifest, counts)
}

// mirrorPush is fetch --mirror-push: the files the run installed (or found
// installed) go to the first registry mirror, so the first builder fills
// the mirror for the others. Blobs the registry has are only HEADed. It
// never fails the fetch: what went wrong is a warning.
func mirrorPush(ctx context.Context, o *fetchOptions, env env, targets []fetch.Target, results []fetch.Result, u *ui) *jsonPush {
	var target mirror.Mirror
	for _, m := range o.mirrors {
		if m.Kind == mirror.OCI {
			target = m
			break
		}
	}
	ok := map[string]bool{}
	for _, r := range results {
		ok[r.Name] = r.Status == fetch.StatusInstalled || r.Status == fetch.StatusFromCache || r.Status == fetch.StatusUpToDate
	}
	var installed []fetch.Target
	for _, t := range targets {
		if ok[t.Model.Name] {
			installed = append(installed, t)
		}
	}
	// The run's own credentials: a registry already given up on is not
	// asked again.
	opts := pushOptionsFor(env, o.registry, target, o.manifest, o.retries)
	opts.Incomplete = len(installed) < len(targets)
	r, none, err := mirror.PushInstalled(ctx, target, installedFiles(installed), nil, opts)
	missing := len(targets) - len(installed) + len(none)
	if r == nil && err == nil {
		return nil // no file to push
	}
	if err != nil {
		u.warnf("%s", oneLine(err))
	}
	if r != nil && err == nil && !o.quiet && !o.json {
		u.infof(false, "%s", pushSummary(r, missing))
	}
	return pushJSON(target, r, err, missing)
}

// jsonPush is what fetch --mirror-push did, in fetch's --json document.
type jsonPush struct {
	Mirror    string `json:"mirror"`
	Reference string `json:"reference,omitempty"`
	Manifest  string `json:"manifest,omitempty"` // empty: nothing was tagged
	Uploaded  int    `json:"uploaded"`
	Mounted   int    `json:"mounted"`
	Present   int    `json:"already_there"`
	Failed    int    `json:"failed"`
	NoFile    int    `json:"no_file"`
	Retries   int    `json:"retries"`
	Error     string `json:"error,omitempty"`
}

func pushJSON(target mirror.Mirror, r *mirror.PushReport, err error, missing int) *jsonPush {
	j := &jsonPush{Mirror: target.String(), NoFile: missing}
	if err != nil {
		j.Error = oneLine(err)
	}
	if r == nil {
		return j
	}
	j.Reference, j.Retries = r.Reference, r.Retries
	if !r.Manifest.IsZero() {
		j.Manifest = "sha256:" + r.Manifest.String()
	}
	n := pushCounts(r)
	j.Uploaded, j.Mounted, j.Present, j.Failed = n[mirror.BlobUploaded], n[mirror.BlobMounted], n[mirror.BlobPresent], n[mirror.BlobFailed]
	return j
}

// writePushJSON prints mirror push's result document (its errors shaped as
// fetch's).
func writePushJSON(w io.Writer, code int, r *mirror.PushReport, probs []problem) error {
	type file struct {
		Name    string `json:"name"`
		Path    string `json:"path"`
		SHA256  string `json:"sha256"`
		Size    int64  `json:"size"`
		Status  string `json:"status"`
		Retries int    `json:"retries"`
		Error   string `json:"error,omitempty"`
	}
	doc := struct {
		Command         string    `json:"command"`
		OK              bool      `json:"ok"`
		ExitCode        int       `json:"exit_code"`
		Reference       string    `json:"reference,omitempty"`
		Manifest        string    `json:"manifest,omitempty"`
		ManifestExisted bool      `json:"manifest_existed"`
		Retries         int       `json:"retries"`
		Files           []file    `json:"files"`
		Errors          []problem `json:"errors"`
	}{Command: "mirror push", OK: code == exitOK, ExitCode: code, Files: []file{}, Errors: append([]problem{}, probs...)}
	if r != nil {
		doc.Reference, doc.ManifestExisted, doc.Retries = r.Reference, r.ManifestExisted, r.Retries
		if !r.Manifest.IsZero() {
			doc.Manifest = "sha256:" + r.Manifest.String()
		}
		for _, b := range r.Blobs {
			f := file{Name: b.Blob.Name, Path: b.Blob.Path, SHA256: b.Blob.Digest.String(), Size: b.Blob.Size, Status: string(b.Status), Retries: b.Retries}
			if b.Err != nil {
				f.Error = oneLine(b.Err)
			}
			doc.Files = append(doc.Files, f)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
