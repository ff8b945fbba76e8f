package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"

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

// PushOptions configures Push. The zero value pushes anonymously with oras'
// retrying default client.
type PushOptions struct {
	// Client is the base HTTP client (proxy, TLS roots), without
	// authentication; nil means oras-go's retry.DefaultClient.
	Client *http.Client
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

	results, err := p.pushBlobs(ctx, blobs, o.Observer)
	if err != nil {
		return nil, fmt.Errorf("mirror push to %s: %w", where, err)
	}
	tag := m.Tag
	if tag == "" {
		tag = DefaultTag(blobs)
	}
	report := &PushReport{Blobs: results, Reference: where + ":" + tag}
	if n := report.Failed(); n > 0 {
		// A manifest that left a file out would move the tag off the
		// blobs an earlier one listed, and garbage collection would take them.
		return report, fmt.Errorf("mirror push to %s: %d of %d files not pushed, so the tag was left as it was: %w",
			report.Reference, n, len(results), firstError(results))
	}
	if o.Incomplete {
		return report, nil
	}
	desc, existed, err := p.pushManifest(ctx, layers(results), tag, o.Title)
	if err != nil {
		return nil, fmt.Errorf("mirror push to %s: %w", report.Reference, err)
	}
	report.Manifest, _ = digest.Parse(desc.Digest.Encoded()) // sha256, from FromBytes
	report.ManifestExisted = existed
	return report, nil
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

// pusher is one Push: the target repository and the mount sources, sharing
// one authenticating client and token cache.
type pusher struct {
	repo *remote.Repository
	from []*remote.Repository
	anon bool // no credentials were given
}

func newPusher(m Mirror, o PushOptions) (*pusher, error) {
	base := o.Client
	if base == nil {
		base = retry.DefaultClient
	}
	client := &auth.Client{Client: base, Credential: o.Credential, Cache: auth.NewCache()}
	client.SetUserAgent("modelfetch")
	repository := func(name string) (*remote.Repository, error) {
		ref := registry.Reference{Registry: m.Registry, Repository: name}
		if err := ref.ValidateRepository(); err != nil {
			return nil, fmt.Errorf("repository %q: not a valid repository name", name)
		}
		return &remote.Repository{Reference: ref, PlainHTTP: m.PlainHTTP, Client: client}, nil
	}
	repo, err := repository(m.Repository)
	if err != nil {
		return nil, err
	}
	p := &pusher{repo: repo, anon: o.Credential == nil}
	for _, name := range o.MountFrom {
		if name == m.Repository {
			continue
		}
		r, err := repository(name)
		if err != nil {
			return nil, fmt.Errorf("mount source: %w", err)
		}
		p.from = append(p.from, r)
	}
	return p, nil
}

// pushBlobs pushes pushConcurrency blobs at a time, each distinct digest
// once. It returns an error only when the registry refuses access: then
// every other blob would fail the same way.
func (p *pusher) pushBlobs(ctx context.Context, blobs []Blob, observe func(BlobResult)) ([]BlobResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]BlobResult, len(blobs))
	order, groups := byDigest(blobs)
	var (
		mu     sync.Mutex // results, denied, observe
		denied error
		wg     sync.WaitGroup
		sem    = make(chan struct{}, pushConcurrency)
	)
	for _, d := range order {
		idx := groups[d]
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			status, err := p.pushBlob(ctx, blobs[idx[0]])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ae := p.accessDenied(err); ae != nil {
					if denied == nil {
						denied = ae
						cancel()
					}
					return
				}
				status = BlobFailed
			}
			for _, i := range idx {
				r := BlobResult{Blob: blobs[i], Status: status}
				if err != nil {
					r.Err = fmt.Errorf("file %s (sha256 %s): %w", blobs[i].Path, blobs[i].Digest.Short(), err)
				}
				results[i] = r
				if observe != nil && denied == nil {
					observe(r)
				}
			}
		}()
	}
	wg.Wait()
	if denied != nil {
		return nil, denied
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return results, nil
}

// byDigest groups blobs that share a digest, so they share one push: the
// first index of each digest does the work, the others copy its result.
func byDigest(blobs []Blob) (order []digest.Digest, indexes map[digest.Digest][]int) {
	indexes = map[digest.Digest][]int{}
	for i, b := range blobs {
		if _, ok := indexes[b.Digest]; !ok {
			order = append(order, b.Digest)
		}
		indexes[b.Digest] = append(indexes[b.Digest], i)
	}
	return order, indexes
}

// pushBlob makes b present in the repository: HEAD, then a mount from a
// source that has it, else a monolithic upload streamed from b.Open.
func (p *pusher) pushBlob(ctx context.Context, b Blob) (BlobStatus, error) {
	desc := layerDescriptor(b)
	ok, err := p.repo.Exists(ctx, desc)
	if err != nil {
		return "", err
	}
	if ok {
		return BlobPresent, nil
	}
	for _, src := range p.from {
		if ok, err := src.Exists(ctx, desc); err != nil || !ok {
			continue // a source we cannot read is no source
		}
		// A registry that cannot mount answers by opening an upload,
		// which Mount then completes with the file's bytes.
		var body *checkedBody
		err := p.repo.Mount(ctx, desc, src.Reference.Repository, func() (io.ReadCloser, error) {
			var err error
			body, err = openChecked(b)
			return body, err
		})
		if body != nil {
			body.Close()
			return BlobUploaded, body.cause(err)
		}
		if err == nil {
			return BlobMounted, nil
		}
		break // the mount was refused outright: upload instead
	}
	body, err := openChecked(b)
	if err != nil {
		return "", err
	}
	defer body.Close()
	return BlobUploaded, body.cause(p.repo.Push(ctx, desc, body))
}

// pushManifest pushes the model config and the manifest for layers, and tags
// it, unless the tag already names the same manifest.
func (p *pusher) pushManifest(ctx context.Context, layers []ocispec.Descriptor, tag, title string) (ocispec.Descriptor, bool, error) {
	sortLayers(layers)
	configDesc, config := configBlob(title, layers)
	if ok, err := p.repo.Exists(ctx, configDesc); err != nil {
		return ocispec.Descriptor{}, false, p.explain(err)
	} else if !ok {
		if err := p.repo.Push(ctx, configDesc, bytes.NewReader(config)); err != nil {
			return ocispec.Descriptor{}, false, fmt.Errorf("model config: %w", p.explain(err))
		}
	}
	annotations := map[string]string{ocispec.AnnotationCreated: manifestCreated}
	if title != "" {
		annotations[ocispec.AnnotationTitle] = title
	}
	// Pack into memory first: the digest decides whether to push at all.
	store := memory.New()
	desc, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, ArtifactTypeModelManifest, oras.PackManifestOptions{
		Layers:              layers,
		ConfigDescriptor:    &configDesc,
		ManifestAnnotations: annotations,
	})
	if err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("pack manifest: %w", err)
	}
	current, err := p.repo.Resolve(ctx, tag)
	switch {
	case err == nil && current.Digest == desc.Digest:
		return desc, true, nil
	case err != nil && !errors.Is(err, errdef.ErrNotFound):
		return ocispec.Descriptor{}, false, p.explain(err)
	}
	rc, err := store.Fetch(ctx, desc)
	if err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("pack manifest: %w", err)
	}
	defer rc.Close()
	if err := p.repo.PushReference(ctx, desc, rc, tag); err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("manifest: %w", p.explain(err))
	}
	return desc, false, nil
}

// AccessError is a registry refusing the push: 401 or 403.
type AccessError struct {
	Registry, Repository string
	Status               int
	// Anonymous: no credentials were offered.
	Anonymous bool
	Err       error
}

func (e *AccessError) Error() string {
	var ce *credentialError
	if e.Status == 0 && errors.As(e.Err, &ce) {
		return fmt.Sprintf("%s: no credentials for %s: %s", e.Registry, e.Repository, ce)
	}
	if e.Anonymous {
		return fmt.Sprintf("%s refused anonymous access to %s (%d %s): log in with docker login %s",
			e.Registry, e.Repository, e.Status, lowerStatus(e.Status), e.Registry)
	}
	return fmt.Sprintf("%s refused the credentials for %s (%d %s): check docker login %s",
		e.Registry, e.Repository, e.Status, lowerStatus(e.Status), e.Registry)
}

func (e *AccessError) Unwrap() error { return e.Err }

func lowerStatus(code int) string {
	if code == http.StatusUnauthorized {
		return "unauthorized"
	}
	return "forbidden"
}

// accessDenied returns an *AccessError when err is a 401 or 403 from the
// target repository, nil otherwise.
func (p *pusher) accessDenied(err error) *AccessError {
	var ce *credentialError
	if errors.As(err, &ce) {
		// The Docker config or its helper failed: no credential to try.
		return &AccessError{Registry: p.repo.Reference.Registry, Repository: p.repo.Reference.Repository, Err: ce}
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
	return &AccessError{Registry: p.repo.Reference.Registry, Repository: p.repo.Reference.Repository,
		Status: status, Anonymous: p.anon || errors.Is(err, auth.ErrBasicCredentialNotFound), Err: err}
}

// explain turns a refusal into an *AccessError and leaves other errors be.
func (p *pusher) explain(err error) error {
	if ae := p.accessDenied(err); ae != nil {
		return ae
	}
	return err
}

// checkedBody is a blob's bytes verified against its digest and size as
// they are read; it remembers a verification failure, which the HTTP client
// would otherwise report as a failed request.
type checkedBody struct {
	r   *digest.Reader
	c   io.Closer
	err error
}

func openChecked(b Blob) (*checkedBody, error) {
	rc, err := b.Open()
	if err != nil {
		return nil, err
	}
	return &checkedBody{r: digest.NewReader(rc, b.Digest, b.Size), c: rc}, nil
}

func (c *checkedBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

func (c *checkedBody) Close() error { return c.c.Close() }

// cause is the error of an upload that read c: the file's own failure
// (it changed on disk, or could not be read) before the request's.
func (c *checkedBody) cause(err error) error {
	if err == nil {
		return nil
	}
	if c.err != nil {
		return fmt.Errorf("not pushed: %w", c.err)
	}
	return err
}
