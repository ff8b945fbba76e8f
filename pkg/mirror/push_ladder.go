package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/djok/modelfetch/internal/retry"
	"github.com/djok/modelfetch/pkg/digest"
)

// The ladder one blob goes down (pushBlob): a HEAD that proves the registry
// has it; else a mount from another repository that proves it has it; else
// an upload in a fresh session; then a HEAD that proves the registry now
// serves it. A transient fault anywhere starts the ladder again from the
// top (retrying), with the file opened again.

// pusher is one Push: the target repository and the mount sources, sharing
// one authenticating client and token cache.
type pusher struct {
	m      Mirror
	client *auth.Client
	repo   *remote.Repository
	from   []*remote.Repository
	anon   bool // no credentials were given
	policy retry.Policy
}

func newPusher(m Mirror, o PushOptions) (*pusher, error) {
	base := http.DefaultClient
	if o.Client != nil {
		base = o.Client
	}
	idle := o.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	client := &auth.Client{Client: wireClient(base, idle), Credential: o.Credential, Cache: auth.NewCache()}
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
	p := &pusher{m: m, client: client, repo: repo, anon: o.Credential == nil,
		policy: retry.Policy{Retries: max(o.Retries, 0), Base: o.BackoffBase, Cap: o.BackoffMax,
			MaxRetryAfter: o.MaxRetryAfter}.WithDefaults()}
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
// once, and counts the retries. It returns an error only when the registry
// refuses access: then every other blob would fail the same way.
func (p *pusher) pushBlobs(ctx context.Context, blobs []Blob, observe func(BlobResult)) ([]BlobResult, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]BlobResult, len(blobs))
	order, groups := byDigest(blobs)
	var (
		mu      sync.Mutex // results, denied, retries, observe
		denied  error
		retries int
		wg      sync.WaitGroup
		sem     = make(chan struct{}, pushConcurrency)
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
			var status BlobStatus
			n, err := p.retrying(ctx, func() (err error) {
				status, err = p.pushBlob(ctx, blobs[idx[0]])
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			retries += n
			if ae := p.accessDenied(err); ae != nil {
				if denied == nil {
					denied = ae
					cancel()
				}
				return
			}
			for _, i := range idx {
				results[i] = blobResult(blobs[i], status, n, err)
				if observe != nil && denied == nil {
					observe(results[i])
				}
			}
		}()
	}
	wg.Wait()
	if denied != nil {
		return nil, retries, denied
	}
	if err := ctx.Err(); err != nil {
		return nil, retries, err
	}
	return results, retries, nil
}

func blobResult(b Blob, status BlobStatus, retries int, err error) BlobResult {
	r := BlobResult{Blob: b, Status: status, Retries: retries}
	if err != nil {
		r.Status = BlobFailed
		r.Err = fmt.Errorf("file %s (sha256 %s): %w", b.Path, b.Digest.Short(), withoutQuery(err))
	}
	return r
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

// retrying runs try until it succeeds, fails for good, or the policy's
// retries are spent, waiting between tries as downloads do. It returns how
// many retries there were.
func (p *pusher) retrying(ctx context.Context, try func() error) (int, error) {
	for used := 0; ; used++ {
		err := try()
		if err == nil || used >= p.policy.Retries || ctx.Err() != nil || !p.transient(err) {
			return used, err
		}
		after, has := retryAfter(err)
		if serr := retry.Sleep(ctx, p.policy.Delay(used, after, has)); serr != nil {
			return used, serr
		}
	}
}

// pushBlob makes b present in the repository, down the ladder above.
func (p *pusher) pushBlob(ctx context.Context, b Blob) (BlobStatus, error) {
	if ok, err := p.serves(ctx, p.m.Repository, b.Digest, b.Size); err != nil || ok {
		return BlobPresent, err
	}
	status, err := p.mountOrUpload(ctx, b)
	if err != nil {
		return "", err
	}
	if err := p.confirm(ctx, b.Digest, b.Size); err != nil {
		return "", err
	}
	return status, nil
}

// mountOrUpload mounts b from a source repository that serves it, else
// uploads it streamed from b.Open.
func (p *pusher) mountOrUpload(ctx context.Context, b Blob) (BlobStatus, error) {
	desc := layerDescriptor(b)
	for _, src := range p.from {
		if ok, err := p.serves(ctx, src.Reference.Repository, b.Digest, b.Size); err != nil || !ok {
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

// confirm checks that the registry serves the blob it just accepted: one
// that does not is failed, so no manifest is tagged over it.
func (p *pusher) confirm(ctx context.Context, d digest.Digest, size int64) error {
	ok, err := p.serves(ctx, p.m.Repository, d, size)
	if err != nil || ok {
		return err
	}
	return &NotServedError{Registry: p.m.Registry, Repository: p.m.Repository, Digest: d, Size: size}
}

// serves reports whether repo has the blob d of size bytes. Only a HEAD
// answered 200 with that Content-Length, and with d as its
// Docker-Content-Digest when it names one, counts: a registry that claims
// another size or digest does not have this blob, whatever its status.
func (p *pusher) serves(ctx context.Context, repo string, d digest.Digest, size int64) (bool, error) {
	u := p.m.registryScheme() + "://" + p.m.Registry + "/v2/" + repo + "/blobs/sha256:" + d.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		named := resp.Header.Get("Docker-Content-Digest")
		return resp.ContentLength == size && (named == "" || strings.EqualFold(named, "sha256:"+d.String())), nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, &errcode.ErrorResponse{Method: req.Method, URL: req.URL, StatusCode: resp.StatusCode}
}

// NotServedError is a registry that accepted a blob's upload and then did
// not serve it (a HEAD found it missing, or of another size or digest).
type NotServedError struct {
	Registry, Repository string
	Digest               digest.Digest
	Size                 int64
}

func (e *NotServedError) Error() string {
	return fmt.Sprintf("%s accepted the upload to %s but does not serve the blob (a HEAD finds no %d bytes under sha256:%s)",
		e.Registry, e.Repository, e.Size, e.Digest.Short())
}

// transient reports whether err is worth another try down the ladder:
// a 5xx or 429 (wire.go), a connection that failed or was reset. The
// file's own failures, a refusal, a refused upload location and a
// registry that does not keep what it accepted are not.
func (p *pusher) transient(err error) bool {
	var (
		se *statusError
		er *errcode.ErrorResponse
		fe *fileError
		le *locationError
		ns *NotServedError
	)
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.As(err, &fe), errors.As(err, &le),
		errors.As(err, &ns), p.accessDenied(err) != nil:
		return false
	case errors.As(err, &se):
		return true
	case errors.As(err, &er):
		return retry.TransientStatus(er.StatusCode)
	}
	return connectionFault(err)
}
