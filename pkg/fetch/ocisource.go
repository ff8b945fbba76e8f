package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/oci"
)

// An oci:// source is one file of a registry artifact (docs/DESIGN.md, "Model
// hubs and registries"). Its manifest is read once per pass of the pipeline, by
// the pin when the model has one (never by the tag then), and the layer
// that holds the file is read as a blob through the same machinery as any
// URL: a raw layer with ranged parallel download and resume, a tar layer
// as a stream of which one entry is kept. Requests reach the registry
// through the client's transport (mirror.Transport), which authenticates
// to it and to nothing else.

// isOCI reports whether src is an oci:// or oci+http:// reference.
func isOCI(src *manifest.Source) bool {
	return src.Ref != nil && (src.Ref.Scheme == manifest.SchemeOCI || src.Ref.Scheme == manifest.SchemeOCIHTTP)
}

// ociServed is src as the pipeline reads it: the bytes served are the
// installed bytes (a raw layer, or the tar entry), never decompressed.
func ociServed(src *manifest.Source) *manifest.Source {
	s := *src
	s.Compression, s.SHA256, s.Size = decompress.None, digest.Digest{}, -1
	return &s
}

// ociRef is where src's artifact is read from: its pin, else the digest
// written, else the tag.
func ociRef(r *manifest.Ref) oci.Ref {
	return oci.Ref{Registry: r.Registry, Repository: r.Repo, Reference: r.Target(), PlainHTTP: r.Scheme == manifest.SchemeOCIHTTP}
}

// ociSource opens the file src names for the model m.
type ociSource struct {
	f          *Fetcher
	ref        oci.Ref
	path       string
	want       digest.Digest // the model's sha256; zero when not locked
	size       int64         // the model's size; -1 when not declared
	newRetrier func() *retrier
	received   func(n int) // handed to the layer's blob source (receiver)

	mu    sync.Mutex
	layer *oci.Layer
	blob  source // the layer's blob, once resolved
}

func (f *Fetcher) ociSource(m *manifest.Model, src *manifest.Source, newRetrier func() *retrier) *ociSource {
	return &ociSource{f: f, ref: ociRef(src.Ref), path: src.Ref.Path, want: m.SHA256, size: m.Size, newRetrier: newRetrier}
}

func (s *ociSource) open(ctx context.Context, off int64) (*body, error) {
	l, blob, err := s.resolve(ctx)
	if err != nil {
		return nil, err
	}
	if !l.Tar {
		return blob.open(ctx, off)
	}
	// The entry starts over from byte 0 of the layer: the layer's own
	// stream resumes its faults, so this happens only when it cannot.
	st := &stream{ctx: ctx, src: blob, rt: s.newRetrier(), expect: l.Desc.Size}
	x, err := oci.Extract(st, s.ref, *l, s.size)
	if err != nil {
		st.Close()
		return nil, &permanentError{err}
	}
	return &body{ReadCloser: &tarBody{x: x, st: st}, total: s.size, final: true}, nil
}

// resolve reads the manifest and picks the file's layer, once.
func (s *ociSource) resolve(ctx context.Context) (*oci.Layer, source, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blob != nil {
		return s.layer, s.blob, nil
	}
	a, err := s.f.resolveManifest(ctx, s.ref)
	if err != nil {
		return nil, nil, err
	}
	l, err := a.File(s.path)
	if err != nil {
		return nil, nil, err
	}
	if !l.Tar {
		if err := s.checkRaw(l); err != nil {
			return nil, nil, err
		}
	}
	u := s.ref.BlobURL(l.Desc.Digest)
	s.layer = &l
	hs := s.f.httpSource(u, l.Desc.Size, s.newRetrier)
	hs.receive(s.received)
	s.blob = hs
	return s.layer, s.blob, nil
}

// receive counts what the layer's blob receives (receiver); set before the
// first open.
func (s *ociSource) receive(f func(n int)) { s.received = f }

// resolveManifest is oci.Resolve under a deadline of four idle timeouts
// (2 minutes by default): a manifest body has no watchdog of its own, and
// a registry that drips one must not hold the run. Past it is a transient
// fault of the source.
func (f *Fetcher) resolveManifest(ctx context.Context, ref oci.Ref) (*oci.Artifact, error) {
	limit := 4 * f.o.IdleTimeout
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	a, err := oci.Resolve(rctx, f.client, ref)
	if err != nil && ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("the registry did not send the manifest within %s", limit)
	}
	return a, err
}

// checkRaw holds a raw layer to the model: its digest is the installed
// file's sha256, so the descriptor must name the recorded one, and the
// bytes, verified against the recorded sha256, are then the layer's too.
func (s *ociSource) checkRaw(l oci.Layer) error {
	if !s.want.IsZero() && l.Desc.Digest.Encoded() != s.want.String() {
		return &oci.IntegrityError{Ref: s.ref, Reason: fmt.Sprintf("the layer of %q is %s; models.toml records sha256 %s", s.path, l.Desc.Digest, s.want)}
	}
	if s.size >= 0 && l.Desc.Size != s.size {
		return &oci.IntegrityError{Ref: s.ref, Reason: fmt.Sprintf("the layer of %q is %d bytes; models.toml records %d", s.path, l.Desc.Size, s.size)}
	}
	return nil
}

// tarBody is the extracted entry; Close closes the layer's stream too.
type tarBody struct {
	x  io.ReadCloser
	st *stream
}

func (b *tarBody) Read(p []byte) (int, error) { return b.x.Read(p) }

func (b *tarBody) Close() error {
	err := b.x.Close()
	b.st.Close()
	return err
}
