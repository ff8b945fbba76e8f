package main

// modelfetch mirror push, and fetch --mirror-push: fill a registry mirror
// with the models of a manifest, from their installed files or the cache.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"time"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/internal/fsutil"
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
	return cmd
}

func runMirrorPush(ctx context.Context, o *pushOptions, spec string, stdout, stderr io.Writer, env env) error {
	target, err := mirror.Parse(spec)
	switch {
	case err != nil:
		return &usageError{err}
	case target.Kind != mirror.OCI:
		return usagef("mirror push: %s is not a registry: want oci://HOST/REPO[:TAG]", target)
	}
	_, targets, err := o.manifestOptions.targets(env)
	if err != nil {
		return err
	}
	c := cache.New(env.cacheDir(o.cacheDir))
	blobs, missing := pushable(targets, c)
	u := &ui{stderr: stderr}
	var pushed *mirror.PushReport
	if len(blobs) > 0 {
		pushed, err = pushBlobs(ctx, env, nil, target, blobs, o.manifest, len(missing) > 0, func(r mirror.BlobResult) {
			if r.Err == nil {
				u.infof(o.quiet || o.json, "%s: %s %s", r.Blob.Name, r.Status, humanSize(r.Blob.Size))
			}
		})
	}
	kind := pushKind(pushed, err, missing)
	code := kind.code()
	probs := pushProblems(pushed, err, missing)
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

// missingFile is a model mirror push has no file for.
type missingFile struct {
	line      string
	integrity bool // there is a file, and it is not what the manifest records
}

// pushable splits targets into the files there are to push and a line for
// each model that has none.
func pushable(targets []fetch.Target, c *cache.Cache) (blobs []mirror.Blob, missing []missingFile) {
	for _, t := range targets {
		b, why := blobOf(t, c)
		if why != nil {
			missing = append(missing, *why)
			continue
		}
		blobs = append(blobs, b)
	}
	return blobs, missing
}

// blobOf is t's file to push: the installed file when it has the declared
// size, else the cache's copy (c may be nil). The bytes are checked while
// uploading.
func blobOf(t fetch.Target, c *cache.Cache) (mirror.Blob, *missingFile) {
	m := t.Model
	b := mirror.Blob{Name: m.Name, Path: path.Join(m.Dir, m.Path), Digest: m.SHA256, Size: m.Size}
	var wrongSize int64 = -1
	if root, err := os.OpenRoot(t.Root); err == nil {
		fi, err := root.Lstat(m.Path)
		root.Close()
		switch {
		case err == nil && fi.Mode().IsRegular() && fi.Size() == m.Size:
			b.Open = func() (io.ReadCloser, error) { return openInRoot(t.Root, m.Path) }
			return b, nil
		case err == nil && fi.Mode().IsRegular():
			wrongSize = fi.Size()
		}
	}
	if c != nil && c.Has(m.SHA256) {
		b.Open = func() (io.ReadCloser, error) { return c.Open(m.SHA256) }
		return b, nil
	}
	if wrongSize >= 0 {
		return b, &missingFile{fmt.Sprintf("%s: installed at %s with %d bytes, the manifest declares %d, and the cache has no copy",
			m.Name, t.Dest(), wrongSize, m.Size), true}
	}
	return b, &missingFile{m.Name + ": neither installed at " + t.Dest() + " nor in the cache", false}
}

// pushProblems are mirror push's error lines: each file not pushed, each
// model without a file, and what stopped the push.
func pushProblems(r *mirror.PushReport, err error, missing []missingFile) []problem {
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
		out = append(out, problem{Message: m.line})
	}
	if len(missing) > 0 {
		out[len(out)-1].Hint = "run modelfetch (or modelfetch cache warm) first"
	}
	return out
}

// openInRoot opens the regular file rel inside root: no symlink out of it,
// and no FIFO swapped in since it was looked at blocks the push.
func openInRoot(root, rel string) (io.ReadCloser, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return fsutil.OpenRegular(r, rel, os.O_RDONLY, 0)
}

// pushBlobs pushes blobs to target with cred (nil: the Docker config's),
// mounting from the other repositories of the same registry that
// MODELFETCH_MIRRORS names; incomplete: they are not the manifest's whole
// set, so no manifest is tagged.
func pushBlobs(ctx context.Context, env env, cred auth.CredentialFunc, target mirror.Mirror, blobs []mirror.Blob, manifestPath string, incomplete bool, observe func(mirror.BlobResult)) (*mirror.PushReport, error) {
	if p := env.dockerConfig(); cred == nil && p != "" {
		cred = mirror.DockerCredentials(p)
	}
	others, _ := mirror.ParseList(env.Mirrors) // checked where it is used for fetching
	var from []string
	for _, m := range others {
		if m.Kind == mirror.OCI && m.Registry == target.Registry && m.Repository != target.Repository {
			from = append(from, m.Repository)
		}
	}
	// The registry may take a while to answer once a large upload is in:
	// it checks the digest.
	client := fetch.NewClient(http.ProxyFromEnvironment, nil, 5*time.Minute)
	return mirror.Push(ctx, target, blobs, mirror.PushOptions{Client: client, Credential: cred, MountFrom: from,
		Title: path.Base(manifestPath), Observer: observe, Incomplete: incomplete})
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
	blobs, none := pushable(installed, nil)
	missing := len(targets) - len(installed) + len(none)
	if len(blobs) == 0 {
		return nil
	}
	// The run's own credentials: a registry already given up on is not
	// asked again.
	r, err := pushBlobs(ctx, env, o.registry, target, blobs, o.manifest, missing > 0, nil)
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
	j.Reference = r.Reference
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
		Name   string `json:"name"`
		Path   string `json:"path"`
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
		Status string `json:"status"`
		Error  string `json:"error,omitempty"`
	}
	doc := struct {
		Command         string    `json:"command"`
		OK              bool      `json:"ok"`
		ExitCode        int       `json:"exit_code"`
		Reference       string    `json:"reference,omitempty"`
		Manifest        string    `json:"manifest,omitempty"`
		ManifestExisted bool      `json:"manifest_existed"`
		Files           []file    `json:"files"`
		Errors          []problem `json:"errors"`
	}{Command: "mirror push", OK: code == exitOK, ExitCode: code, Files: []file{}, Errors: append([]problem{}, probs...)}
	if r != nil {
		doc.Reference, doc.ManifestExisted = r.Reference, r.ManifestExisted
		if !r.Manifest.IsZero() {
			doc.Manifest = "sha256:" + r.Manifest.String()
		}
		for _, b := range r.Blobs {
			f := file{Name: b.Blob.Name, Path: b.Blob.Path, SHA256: b.Blob.Digest.String(), Size: b.Blob.Size, Status: string(b.Status)}
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
