package fetch

import (
	"context"
	"errors"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/oci"
)

// probeOCI is Probe for an oci:// source. The manifest is read by src's
// pin, or by its tag when it has none (lock --update clears the pin), and
// the Probe names the manifest digest read as the source's pin. A raw
// layer's digest is the file's sha256, so its descriptor is the probe and
// no blob is read; a tar layer is downloaded and its entry hashed, from
// the manifest just read, so that the file and the pin cannot come from
// two pushes of the tag.
func (f *Fetcher) probeOCI(ctx context.Context, m *manifest.Model, src *manifest.Source, limit int64) (Probe, error) {
	name := redact.URL(src.Parsed)
	fail := func(err error) (Probe, error) {
		kind := KindNetwork
		switch {
		case ctx.Err() != nil:
			kind, err = KindCanceled, context.Cause(ctx)
		case isIntegrity(err):
			kind = KindIntegrity
		}
		return Probe{Source: name}, &SourceError{Source: name, Kind: kind, Err: err}
	}
	if f.o.Offline {
		return fail(&permanentError{errors.New("offline: not reaching the network")})
	}
	if err := f.dead.check(src.Parsed); err != nil {
		return fail(err)
	}
	ref := ociRef(src.Ref)
	rt := &retrier{p: &f.policy, failover: true}
	var a *oci.Artifact
	for {
		var err error
		if a, err = f.resolveManifest(ctx, ref); err == nil {
			break
		}
		if werr := rt.wait(ctx, err); werr != nil {
			f.dead.mark(src.Parsed, werr)
			return fail(werr)
		}
	}
	l, err := a.File(src.Ref.Path)
	if err != nil {
		return fail(err)
	}
	pin := manifest.Pin{Key: src.Ref.Key(), Value: a.Digest.String()}
	if !l.Tar {
		d, err := digest.Parse(l.Desc.Digest.Encoded())
		if err != nil {
			return fail(err)
		}
		return Probe{Source: name, Format: decompress.None, Installed: d, InstalledSize: l.Desc.Size,
			Served: d, ServedSize: l.Desc.Size, Pin: pin, Described: true}, nil
	}
	pinned := *src
	r := *src.Ref
	r.Pin = pin.Value
	pinned.Ref = &r
	p, err := f.probeStream(ctx, m, &pinned, limit)
	p.Pin = pin
	return p, err
}
