package testsrv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"path"

	godigest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Layout is how an artifact's files are laid out in its layers: the three
// ways model artifacts are published.
type Layout int

// Layouts.
const (
	// ModelPackRaw: a CNCF ModelPack manifest, one raw weight layer per
	// file, org.cncf.model.filepath on each (what modctl and our own mirror
	// push write).
	ModelPackRaw Layout = iota + 1
	// ModelPackTar: ModelPack with one .tar layer per file.
	ModelPackTar
	// KitOps: a KitOps ModelKit as kit pack writes it, one tar+gzip layer
	// per Kitfile path with that path (cleaned: a folder without its
	// trailing "/") in org.cncf.model.filepath, the tar's entries named from
	// the pack folder; a file in a folder is packed in that folder's layer.
	KitOps
	// DockerModel: Docker Model Runner's layout, one file per layer
	// (application/vnd.docker.ai.gguf.v3 and friends) with
	// org.cncf.model.filepath.
	DockerModel
)

// ArtifactFile is one file of an artifact to push.
type ArtifactFile struct {
	Path string
	Data []byte
}

// PushArtifact pushes files to addr/repo:tag over plain http in layout, as
// user:password when user is not empty, and returns the manifest's digest.
func PushArtifact(ctx context.Context, addr, repo, tag string, layout Layout, files []ArtifactFile, user, password string) (string, error) {
	r, err := remote.NewRepository(addr + "/" + repo)
	if err != nil {
		return "", err
	}
	r.PlainHTTP = true
	if user != "" {
		r.Client = &auth.Client{Credential: auth.StaticCredential(addr, auth.Credential{Username: user, Password: password})}
	}
	configType, artifactType := layoutTypes(layout)
	config := []byte(`{"descriptor":{},"config":{},"modelfs":{"type":"layers","diffIds":[]}}`)
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       ocispec.Descriptor{MediaType: configType, Digest: godigest.FromBytes(config), Size: int64(len(config))},
	}
	if err := pushBlob(ctx, r, m.Config, config); err != nil {
		return "", err
	}
	layers, err := layoutLayers(layout, files)
	if err != nil {
		return "", err
	}
	for _, l := range layers {
		if err := pushBlob(ctx, r, l.desc, l.data); err != nil {
			return "", err
		}
		m.Layers = append(m.Layers, l.desc)
	}
	return PushManifest(ctx, r, tag, m)
}

// PushManifest tags m in r and returns its digest.
func PushManifest(ctx context.Context, r *remote.Repository, tag string, m ocispec.Manifest) (string, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: godigest.FromBytes(data), Size: int64(len(data))}
	if err := r.PushReference(ctx, desc, bytes.NewReader(data), tag); err != nil {
		return "", fmt.Errorf("push manifest %s: %w", tag, err)
	}
	return desc.Digest.String(), nil
}

func pushBlob(ctx context.Context, r *remote.Repository, d ocispec.Descriptor, data []byte) error {
	if ok, err := r.Blobs().Exists(ctx, d); err == nil && ok {
		return nil
	}
	if err := r.Blobs().Push(ctx, d, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("push blob %s: %w", d.Digest, err)
	}
	return nil
}

func layoutTypes(l Layout) (config, artifact string) {
	switch l {
	case KitOps:
		return "application/vnd.kitops.modelkit.config.v1+json", "application/vnd.kitops.modelkit.manifest.v1+json"
	case DockerModel:
		return "application/vnd.docker.ai.model.config.v0.1+json", ""
	}
	return "application/vnd.cncf.model.config.v1+json", "application/vnd.cncf.model.manifest.v1+json"
}

type layer struct {
	desc ocispec.Descriptor
	data []byte
}

func layoutLayers(l Layout, files []ArtifactFile) ([]layer, error) {
	var out []layer
	add := func(mt string, data []byte, annotations map[string]string) {
		out = append(out, layer{ocispec.Descriptor{MediaType: mt, Digest: godigest.FromBytes(data), Size: int64(len(data)), Annotations: annotations}, data})
	}
	switch l {
	case ModelPackRaw, DockerModel:
		for _, f := range files {
			mt := "application/vnd.cncf.model.weight.v1.raw"
			if l == DockerModel {
				mt = "application/vnd.docker.ai.gguf.v3"
			}
			add(mt, f.Data, map[string]string{"org.cncf.model.filepath": f.Path, ocispec.AnnotationTitle: path.Base(f.Path)})
		}
	case ModelPackTar:
		for _, f := range files {
			data, err := tarOf(false, f)
			if err != nil {
				return nil, err
			}
			add("application/vnd.cncf.model.weight.v1.tar", data, map[string]string{"org.cncf.model.filepath": f.Path})
		}
	case KitOps:
		// A folder's files share one layer titled with the folder, as a
		// Kitfile's model path that names a folder packs.
		byDir := map[string][]ArtifactFile{}
		var dirs []string
		for _, f := range files {
			d := path.Dir(f.Path)
			if _, ok := byDir[d]; !ok {
				dirs = append(dirs, d)
			}
			byDir[d] = append(byDir[d], f)
		}
		for _, d := range dirs {
			data, err := tarOf(true, byDir[d]...)
			if err != nil {
				return nil, err
			}
			title := d
			if d == "." {
				title = byDir[d][0].Path
			}
			add("application/vnd.kitops.modelkit.model.v1.tar+gzip", data, map[string]string{"org.cncf.model.filepath": title})
		}
	}
	return out, nil
}

// tarOf is a tar (gzipped when gz) of files, folders first as tar writers do.
func tarOf(gz bool, files ...ArtifactFile) ([]byte, error) {
	var b bytes.Buffer
	var tw *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&b)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&b)
	}
	if d := path.Dir(files[0].Path); d != "." {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Path, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.Data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// PushIndex tags, at addr/repo:tag, an OCI index of the manifests the
// children tags of the same repository name (one per platform, as a
// multi-platform image is), and returns its digest.
func PushIndex(ctx context.Context, addr, repo, tag string, children ...string) (string, error) {
	r, err := remote.NewRepository(addr + "/" + repo)
	if err != nil {
		return "", err
	}
	r.PlainHTTP = true
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for i, c := range children {
		d, err := r.Resolve(ctx, c)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", c, err)
		}
		d.Platform = &ocispec.Platform{OS: "linux", Architecture: []string{"amd64", "arm64"}[i%2]}
		idx.Manifests = append(idx.Manifests, d)
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return "", err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: godigest.FromBytes(data), Size: int64(len(data))}
	if err := r.PushReference(ctx, desc, bytes.NewReader(data), tag); err != nil {
		return "", fmt.Errorf("push index %s: %w", tag, err)
	}
	return desc.Digest.String(), nil
}
