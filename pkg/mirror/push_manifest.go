package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"

	"github.com/djok/modelfetch/pkg/digest"
)

// pushManifest pushes the model config and the manifest for layers, and tags
// it, unless the tag already names the same manifest. The config blob goes
// down the same ladder as the files: believed present only when a HEAD says
// so with its size and digest, and confirmed after its upload.
func (p *pusher) pushManifest(ctx context.Context, layers []ocispec.Descriptor, tag, title string) (ocispec.Descriptor, bool, error) {
	sortLayers(layers)
	configDesc, config := configBlob(title, layers)
	if err := p.pushConfig(ctx, configDesc, config); err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("model config: %w", p.explain(err))
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

func (p *pusher) pushConfig(ctx context.Context, desc ocispec.Descriptor, config []byte) error {
	d, err := digest.Parse(desc.Digest.Encoded()) // sha256, from configBlob
	if err != nil {
		return err
	}
	if ok, err := p.serves(ctx, p.m.Repository, d, desc.Size); err != nil || ok {
		return err
	}
	if err := p.repo.Push(ctx, desc, bytes.NewReader(config)); err != nil {
		return err
	}
	return p.confirm(ctx, d, desc.Size)
}
