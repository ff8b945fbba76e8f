package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/djok/modelfetch/pkg/digest"
)

// Blob is one installed file to push: one raw layer whose OCI digest is the
// file's sha256.
type Blob struct {
	// Name is the model the file belongs to, for reports.
	Name string
	// Path is the file's installed path relative to its root, recorded in
	// the layer's org.cncf.model.filepath annotation.
	Path string
	// Digest and Size are what models.toml records for the file.
	Digest digest.Digest
	Size   int64
	// Open returns the file's bytes. They are checked against Digest and
	// Size while they are uploaded, so a file changed on disk fails its
	// upload instead of being stored under a digest it does not have.
	Open func() (io.ReadCloser, error)
}

// PushOptions configures Push. The zero value pushes anonymously, with
// http.DefaultClient's transport and no retry.
type PushOptions struct {
	// Client is the base HTTP client (proxy, TLS roots), without
	// authentication and without retries of its own; nil means
	// http.DefaultClient.
	Client *http.Client
	// Retries is how many times a transient fault (a 5xx, a 429, a reset
	// connection) is tried again, per blob and for the manifest: each try
	// opens the file again and starts a new upload session. 0: none.
	Retries int
	// BackoffBase, BackoffMax and MaxRetryAfter shape the waits between
	// tries as for downloads (fetch.Options); 0 means 500ms, 30s and 2m.
	BackoffBase, BackoffMax, MaxRetryAfter time.Duration
	// IdleTimeout bounds every request by silence: no byte of an upload
	// taken, no answer, no byte of an answer for this long, and the
	// request fails (a connection fault, retried as one). 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Credential gives the credentials for a registry host (Docker's
	// config.json and helpers); nil means anonymous.
	Credential auth.CredentialFunc
	// MountFrom are other repositories on the same registry: a blob missing
	// from the target but present in one of them is mounted, not uploaded.
	MountFrom []string
	// Title names the artifact (e.g. the manifest's file name): the
	// manifest's org.opencontainers.image.title and the model config's
	// descriptor.name. Empty: neither is set.
	Title string
	// Observer, when set, is told as each blob finishes (one call at a
	// time, in completion order).
	Observer func(BlobResult)
	// Incomplete says blobs is not the whole set (the caller has no file
	// for some models): the blobs are pushed, and no manifest is tagged,
	// since one that left files out would move the tag off their blobs.
	Incomplete bool
}

// BlobStatus is how a blob came to be in the registry.
type BlobStatus string

// Blob statuses.
const (
	// BlobPresent: the registry had it already (HEAD found it).
	BlobPresent BlobStatus = "present"
	// BlobMounted: mounted from one of PushOptions.MountFrom.
	BlobMounted BlobStatus = "mounted"
	// BlobUploaded: its bytes were uploaded.
	BlobUploaded BlobStatus = "uploaded"
	// BlobFailed: it is not in the registry; BlobResult.Err says why.
	BlobFailed BlobStatus = "failed"
)

// BlobResult is the outcome for one Blob.
type BlobResult struct {
	Blob   Blob
	Status BlobStatus
	Err    error // non-nil exactly when Status is BlobFailed
	// Retries counts the tries after the first (transient faults).
	Retries int
}

// PushReport is what Push did.
type PushReport struct {
	// Blobs are the results in the order the blobs were given.
	Blobs []BlobResult
	// Reference is HOST/REPO:TAG, the tag the manifest is under.
	Reference string
	// Manifest is the manifest's sha256.
	Manifest digest.Digest
	// ManifestExisted: the tag already named this exact manifest, so it
	// was not pushed again.
	ManifestExisted bool
	// Retries counts the tries after the first, over every blob (each
	// distinct digest once) and the manifest.
	Retries int
}

// Failed counts the blobs that are not in the registry.
func (r *PushReport) Failed() int {
	n := 0
	for _, b := range r.Blobs {
		if b.Err != nil {
			n++
		}
	}
	return n
}

// pushConcurrency is how many blobs are pushed at a time.
const pushConcurrency = 3

// Push puts blobs into the registry m and tags one ModelPack manifest that
// lists them (so the registry's garbage collection keeps them) with m.Tag, or
// DefaultTag. It is idempotent: blobs the registry has are only HEADed, and a
// tag that already names the same manifest is left alone.
//
// A blob that fails is reported in its BlobResult; Push then returns the
// report with an error saying how many files are missing, and pushes no
// manifest: the tag is left as it was. An error that stops everything (the
// registry refuses the credentials) returns a nil report.
func Push(ctx context.Context, m Mirror, blobs []Blob, o PushOptions) (*PushReport, error) {
	if m.Kind != OCI {
		return nil, fmt.Errorf("mirror push to %s: only an oci:// registry can be pushed to", m)
	}
	where := m.Registry + "/" + m.Repository
	if err := checkBlobs(blobs); err != nil {
		return nil, fmt.Errorf("mirror push to %s: %w", where, err)
	}
	p, err := newPusher(m, o)
	if err != nil {
		return nil, fmt.Errorf("mirror push to %s: %w", where, err)
	}
	// One set of scopes for every request, so a token registry is asked
	// for one token rather than one per kind of request.
	ctx = auth.AppendRepositoryScope(ctx, p.repo.Reference, auth.ActionPull, auth.ActionPush)
	for _, from := range p.from {
		ctx = auth.AppendRepositoryScope(ctx, from.Reference, auth.ActionPull)
	}

	results, retries, err := p.pushBlobs(ctx, blobs, o.Observer)
	if err != nil {
		return nil, fmt.Errorf("mirror push to %s: %w", where, err)
	}
	tag := m.Tag
	if tag == "" {
		tag = DefaultTag(blobs)
	}
	report := &PushReport{Blobs: results, Reference: where + ":" + tag, Retries: retries}
	if n := report.Failed(); n > 0 {
		// A manifest that left a file out would move the tag off the
		// blobs an earlier one listed, and garbage collection would take them.
		return report, fmt.Errorf("mirror push to %s: %d of %d files not pushed, so the tag was left as it was: %w",
			report.Reference, n, len(results), firstError(results))
	}
	if o.Incomplete {
		return report, nil
	}
	if err := p.tag(ctx, report, tag, o.Title); err != nil {
		return nil, fmt.Errorf("mirror push to %s: %w", report.Reference, withoutQuery(err))
	}
	return report, nil
}

// tag pushes and tags the manifest of report's blobs, every one of which
// the registry has been seen to serve, and records it in report.
func (p *pusher) tag(ctx context.Context, report *PushReport, tag, title string) error {
	var (
		desc    ocispec.Descriptor
		existed bool
	)
	retries, err := p.retrying(ctx, func() (err error) {
		desc, existed, err = p.pushManifest(ctx, layers(report.Blobs), tag, title)
		return err
	})
	report.Retries += retries
	if err != nil {
		return err
	}
	report.Manifest, _ = digest.Parse(desc.Digest.Encoded()) // sha256, from FromBytes
	report.ManifestExisted = existed
	return nil
}

// DefaultTag is the tag Push uses when the mirror names none: "models-" and
// 16 hex digits of a digest of the files' paths and digests. The same set of
// files always gets the same tag, and another set its own, so pushing a new
// models.toml never moves the tag that keeps an older set's blobs from the
// registry's garbage collection (a builder may still use them), as a
// "latest" would.
func DefaultTag(blobs []Blob) string {
	lines := make([]string, 0, len(blobs))
	for _, b := range blobs {
		lines = append(lines, b.Path+" "+b.Digest.String()+"\n")
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)
	return "models-" + digest.Of([]byte(strings.Join(lines, ""))).String()[:16]
}

// layers are the manifest's layers: one per file (the same file installed
// twice is one layer).
func layers(results []BlobResult) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	seen := map[string]bool{}
	for _, r := range results {
		if key := r.Blob.Path + "\x00" + r.Blob.Digest.String(); !seen[key] {
			seen[key] = true
			out = append(out, layerDescriptor(r.Blob))
		}
	}
	return out
}

func firstError(results []BlobResult) error {
	for _, r := range results {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

func checkBlobs(blobs []Blob) error {
	if len(blobs) == 0 {
		return errors.New("no files to push")
	}
	for _, b := range blobs {
		if b.Digest.IsZero() || b.Size < 0 || b.Open == nil || b.Path == "" {
			return fmt.Errorf("file %q has no path, digest, size or content", b.Path)
		}
	}
	return nil
}

// accessDenied returns an *AuthError when err is a refusal from the target
// repository (a 401 or 403, or no credential to be had), nil otherwise.
func (p *pusher) accessDenied(err error) *AuthError {
	if err == nil {
		return nil
	}
	ref := p.repo.Reference
	var ce *credentialError
	if errors.As(err, &ce) {
		// The Docker config or its helper failed: no credential to try.
		return &AuthError{Registry: ref.Registry, Repository: ref.Repository, Reason: "no credentials for " + ref.Repository + ": " + ce.Error(), Err: ce}
	}
	status := http.StatusUnauthorized // a basic challenge without credentials
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		status = resp.StatusCode
	} else if !errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return nil
	}
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		return nil
	}
	e := &AuthError{Registry: ref.Registry, Repository: ref.Repository, Status: status,
		Anonymous: p.anon || errors.Is(err, auth.ErrBasicCredentialNotFound), Err: err}
	text := strings.ToLower(http.StatusText(status))
	if e.Anonymous {
		e.Reason = fmt.Sprintf("refused anonymous access to %s (%d %s): log in with docker login %s", ref.Repository, status, text, ref.Registry)
	} else {
		e.Reason = fmt.Sprintf("refused the credentials for %s (%d %s): check docker login %s", ref.Repository, status, text, ref.Registry)
	}
	return e
}

// explain turns a refusal into an *AuthError and leaves other errors be.
func (p *pusher) explain(err error) error {
	if ae := p.accessDenied(err); ae != nil {
		return ae
	}
	return err
}
