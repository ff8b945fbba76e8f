package fetch

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/oci"
)

// probeOCI is Probe for an oci:// source. The manifest is read by src's
// pin (lock pins first: OCIManifestDigest), else by the digest or tag
// written. A raw layer's digest is the file's sha256, so its descriptor is
// the probe and no blob is read; a tar layer is downloaded and its entry
// hashed, from the manifest just read (by its digest), so that the file
// cannot come from another push of a tag.
func (f *Fetcher) probeOCI(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (Probe, error) {
	name := redact.URL(src.Parsed)
	fail := func(err error) (Probe, error) { return probeFailed(ctx, name, err) }
	if f.o.Offline {
		return fail(&permanentError{errors.New("offline: not reaching the network")})
	}
	a, err := f.resolveRetried(ctx, src.Parsed, ociRef(src.Ref))
	if err != nil {
		return fail(err)
	}
	l, err := a.File(src.Ref.Path)
	if err != nil {
		return fail(err)
	}
	if !l.Tar {
		d, err := digest.Parse(l.Desc.Digest.Encoded())
		if err != nil {
			return fail(err)
		}
		if limit > 0 && l.Desc.Size > limit {
			// What a download of it would find: more than the probe's bound.
			return fail(&digest.SizeError{Got: l.Desc.Size, Want: limit, Over: true})
		}
		return Probe{Source: name, Format: decompress.None, Installed: d, InstalledSize: l.Desc.Size,
			Served: d, ServedSize: l.Desc.Size, Described: true}, nil
	}
	pinned := *src
	r := *src.Ref
	r.Pin = a.Digest.String()
	pinned.Ref = &r
	return f.probeStream(ctx, m, &pinned, limit)
}

// OCIManifestDigest is the digest of the manifest an oci:// reference's
// tag names now (never its pin): what lock pins it to. An index is an
// *oci.IndexError that lists its children.
func (f *Fetcher) OCIManifestDigest(ctx context.Context, r *manifest.Ref) (string, error) {
	if f.o.Offline {
		return "", &permanentError{errors.New("offline: not reaching the network")}
	}
	ref := oci.Ref{Registry: r.Registry, Repository: r.Repo, Reference: r.Rev, PlainHTTP: r.Scheme == manifest.SchemeOCIHTTP}
	if r.Digest != "" {
		ref.Reference = r.Digest
	}
	a, err := f.resolveRetried(ctx, &url.URL{Scheme: r.Scheme, Host: r.Registry}, ref)
	if err != nil {
		return "", err
	}
	return a.Digest.String(), nil
}

// resolveRetried reads ref's manifest under the retry policy; an
// unreachable registry is given up at once (lock is run by a person).
func (f *Fetcher) resolveRetried(ctx context.Context, host *url.URL, ref oci.Ref) (*oci.Artifact, error) {
	if err := f.dead.check(host); err != nil {
		return nil, err
	}
	rt := &retrier{p: &f.policy, faults: new(atomic.Int64), leaveUnreachable: true}
	for {
		a, err := f.resolveManifest(ctx, ref)
		if err == nil {
			return a, nil
		}
		if werr := rt.wait(ctx, err); werr != nil {
			f.dead.mark(host, werr)
			return nil, werr
		}
	}
}
