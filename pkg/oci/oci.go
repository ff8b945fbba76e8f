// Package oci reads models out of OCI registries: it resolves a reference
// (a tag or a digest) to an image manifest, picks the layer that holds one
// named file, and extracts that file from a tar layer as a stream.
//
// Layouts are told apart by the layer annotations that name a file and by
// the layers' media types: CNCF ModelPack (org.cncf.model.filepath, raw or
// tar layers), Docker Model Runner (one file per layer, the same
// annotation), KitOps (the same annotation, a tar+gzip layer per Kitfile
// path) and oras (org.opencontainers.image.title, a file or a folder's
// tar+gzip).
//
// The package never prints and reads no environment. Requests go through the
// *http.Client the caller passes, whose transport authenticates to the
// registry (see mirror.Transport); every reply is bounded (MaxManifestBytes,
// MaxLayers, the declared size of a tar entry).
package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Bounds on what a registry may send (every input is bounded).
const (
	// MaxManifestBytes caps an image manifest, as distribution and
	// containerd do (4 MiB).
	MaxManifestBytes = 4 << 20
	// MaxLayers caps the layers of one manifest. A model artifact has one
	// layer per file and the largest model repositories hold a few thousand
	// files; beyond that a manifest is more likely hostile than a model,
	// and every layer costs a lookup per file asked for.
	MaxLayers = 10000
)

// Ref is an artifact in a registry: plain values, parsed by the caller
// (pkg/manifest parses the oci:// form).
type Ref struct {
	// Registry is host[:port], already normalised (registry-1.docker.io).
	Registry string
	// Repository is the repository's name (library/x for docker.io names).
	Repository string
	// Reference is a tag, or a digest (sha256:HEX).
	Reference string
	// PlainHTTP: the registry is spoken to over http (oci+http://).
	PlainHTTP bool
}

// Scheme is http or https, as Ref is spoken to.
func (r Ref) Scheme() string {
	if r.PlainHTTP {
		return "http"
	}
	return "https"
}

// String is REGISTRY/REPO:TAG or REGISTRY/REPO@DIGEST.
func (r Ref) String() string {
	if strings.Contains(r.Reference, ":") {
		return r.Registry + "/" + r.Repository + "@" + r.Reference
	}
	return r.Registry + "/" + r.Repository + ":" + r.Reference
}

// BlobURL is where the blob d of r's repository is read from.
func (r Ref) BlobURL(d godigest.Digest) *url.URL {
	return &url.URL{Scheme: r.Scheme(), Host: r.Registry, Path: "/v2/" + r.Repository + "/blobs/" + d.String()}
}

// Artifact is a resolved image manifest.
type Artifact struct {
	Ref Ref
	// Digest is the manifest's own digest: what lock pins.
	Digest godigest.Digest
	Layers []ocispec.Descriptor
}

// Resolve fetches the image manifest ref names, by tag or by digest, through
// client (nil: http.DefaultClient). A digest reference is verified against
// the bytes. An index is refused with *IndexError listing its children.
func Resolve(ctx context.Context, client *http.Client, ref Ref) (*Artifact, error) {
	if client == nil {
		client = http.DefaultClient
	}
	repo := &remote.Repository{
		Client:           client,
		Reference:        registry.Reference{Registry: ref.Registry, Repository: ref.Repository, Reference: ref.Reference},
		PlainHTTP:        ref.PlainHTTP,
		MaxMetadataBytes: MaxManifestBytes,
	}
	desc, rc, err := repo.Manifests().FetchReference(ctx, ref.Reference)
	if err != nil {
		return nil, fetchFailure(ref, err)
	}
	defer rc.Close()
	if desc.Size > MaxManifestBytes {
		// oras checks the size it is told only when the registry sends a
		// digest; without one it hashes the first 4 MiB and says nothing.
		return nil, fetchFailure(ref, errdef.ErrSizeExceedsLimit)
	}
	if !manifestType(desc.MediaType) {
		return nil, &ManifestError{Ref: ref, Reason: fmt.Sprintf("the registry answered with %s, not an image manifest", orUnknown(desc.MediaType))}
	}
	data, err := content.ReadAll(io.LimitReader(rc, MaxManifestBytes), desc)
	if err != nil {
		if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) {
			return nil, &IntegrityError{Ref: ref, Reason: "the manifest's bytes do not match its digest " + desc.Digest.String()}
		}
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	return parseManifest(ref, desc, data)
}

// manifestType reports whether t is a manifest or index media type (the
// Content-Type a registry must answer a manifest GET with).
func manifestType(t string) bool {
	switch t {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		dockerManifest, dockerManifestList:
		return true
	}
	return false
}

// Docker's schema 2 media types, which registries still serve.
const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func orUnknown(s string) string {
	if s == "" {
		return "no content type"
	}
	return s
}

// rawManifest is what is read of a manifest or an index: layers for one,
// manifests for the other. Layers are decoded only once counted.
type rawManifest struct {
	MediaType string            `json:"mediaType"`
	Layers    []json.RawMessage `json:"layers"`
	Manifests []json.RawMessage `json:"manifests"`
}

func parseManifest(ref Ref, desc ocispec.Descriptor, data []byte) (*Artifact, error) {
	var raw rawManifest
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &ManifestError{Ref: ref, Reason: "the manifest is not valid JSON"}
	}
	if desc.MediaType == ocispec.MediaTypeImageIndex || desc.MediaType == dockerManifestList || len(raw.Manifests) > 0 {
		return nil, indexError(ref, raw.Manifests)
	}
	if len(raw.Layers) > MaxLayers {
		return nil, &ManifestError{Ref: ref, Reason: fmt.Sprintf("the manifest claims %d layers; at most %d are read", len(raw.Layers), MaxLayers)}
	}
	a := &Artifact{Ref: ref, Digest: desc.Digest, Layers: make([]ocispec.Descriptor, len(raw.Layers))}
	for i, l := range raw.Layers {
		if err := json.Unmarshal(l, &a.Layers[i]); err != nil {
			return nil, &ManifestError{Ref: ref, Reason: fmt.Sprintf("layer %d is not a descriptor", i)}
		}
		if err := a.Layers[i].Digest.Validate(); err != nil || a.Layers[i].Digest.Algorithm() != godigest.SHA256 || a.Layers[i].Size < 0 {
			return nil, &ManifestError{Ref: ref, Reason: fmt.Sprintf("layer %d has no valid sha256 digest and size", i)}
		}
	}
	return a, nil
}

// maxChildrenListed bounds the children an IndexError names.
const maxChildrenListed = 20

func indexError(ref Ref, children []json.RawMessage) error {
	e := &IndexError{Ref: ref, Total: len(children)}
	for _, c := range children {
		if len(e.Children) == maxChildrenListed {
			break
		}
		var d ocispec.Descriptor
		if json.Unmarshal(c, &d) != nil || d.Digest.Validate() != nil {
			continue
		}
		child := Child{Digest: d.Digest}
		if p := d.Platform; p != nil {
			child.Platform = p.OS + "/" + p.Architecture
			if p.Variant != "" {
				child.Platform += "/" + p.Variant
			}
		}
		e.Children = append(e.Children, child)
	}
	return e
}

// fetchFailure turns oras' error for the manifest GET into one line (oras'
// own repeat the method and URL): a status is *StatusError, a network fault
// stays as it is, so the caller's retry policy sees it.
func fetchFailure(ref Ref, err error) error {
	var (
		er *errcode.ErrorResponse
		ne net.Error
		ue *url.Error
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, errdef.ErrNotFound):
		return &StatusError{Ref: ref, Code: http.StatusNotFound}
	case errors.Is(err, errdef.ErrSizeExceedsLimit):
		return &ManifestError{Ref: ref, Reason: fmt.Sprintf("the manifest is larger than %d MiB", MaxManifestBytes>>20)}
	case errors.As(err, &er):
		return &StatusError{Ref: ref, Code: er.StatusCode}
	case errors.As(err, &ue), errors.As(err, &ne):
		// The transport's own failure (network, authentication): as it is.
		if ue != nil {
			return ue.Err
		}
		return err
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if i := strings.Index(msg, ": "); i >= 0 && (strings.HasPrefix(msg, "GET ") || strings.HasPrefix(msg, "HEAD ")) {
		msg = msg[i+2:]
	}
	return &ManifestError{Ref: ref, Reason: msg}
}
