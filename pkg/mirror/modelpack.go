package mirror

import (
	"encoding/json"
	"path"
	"sort"

	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The CNCF ModelPack media types and annotation (github.com/modelpack/model-spec,
// specs-go/v1), written out rather than importing that module for four strings.
// Registries such as Harbor show a manifest with this artifact type as a model.
const (
	// ArtifactTypeModelManifest is the manifest's artifactType.
	ArtifactTypeModelManifest = "application/vnd.cncf.model.manifest.v1+json"
	// MediaTypeModelConfig is the config blob's media type.
	MediaTypeModelConfig = "application/vnd.cncf.model.config.v1+json"
	// MediaTypeModelWeightRaw is a layer that is one file, unarchived and
	// uncompressed: its digest is the installed file's sha256.
	MediaTypeModelWeightRaw = "application/vnd.cncf.model.weight.v1.raw"
	// AnnotationFilepath is the layer annotation with the file's path.
	AnnotationFilepath = "org.cncf.model.filepath"
)

// manifestCreated is the manifest's org.opencontainers.image.created: fixed
// (the Unix epoch, as reproducible builds use) so that the same files always
// make the same manifest digest, and a second push rewrites nothing.
const manifestCreated = "1970-01-01T00:00:00Z"

// modelConfig is a minimal ModelPack model config (docs/config.md and
// schema/config-schema.json): descriptor, config and modelfs are required;
// modelfs lists the layer digests in layer order.
type modelConfig struct {
	Descriptor struct {
		Name string `json:"name,omitempty"` // the schema wants it non-empty when given
	} `json:"descriptor"`
	ModelFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diffIds"`
	} `json:"modelfs"`
	Config struct{} `json:"config"`
}

// layerDescriptor is the raw weight layer for b.
func layerDescriptor(b Blob) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType: MediaTypeModelWeightRaw,
		Digest:    ociDigest(b),
		Size:      b.Size,
		Annotations: map[string]string{
			AnnotationFilepath:      b.Path,
			ocispec.AnnotationTitle: path.Base(b.Path),
		},
	}
}

func ociDigest(b Blob) godigest.Digest {
	return godigest.NewDigestFromEncoded(godigest.SHA256, b.Digest.String())
}

// sortLayers orders layers by file path (then digest), so the manifest does
// not depend on the order files were given or finished uploading.
func sortLayers(layers []ocispec.Descriptor) {
	sort.Slice(layers, func(i, j int) bool {
		pi, pj := layers[i].Annotations[AnnotationFilepath], layers[j].Annotations[AnnotationFilepath]
		if pi != pj {
			return pi < pj
		}
		return layers[i].Digest < layers[j].Digest
	})
}

// configBlob is the model config for layers (already sorted) and its
// descriptor.
func configBlob(name string, layers []ocispec.Descriptor) (ocispec.Descriptor, []byte) {
	var c modelConfig
	c.Descriptor.Name = name
	c.ModelFS.Type = "layers"
	c.ModelFS.DiffIDs = make([]string, len(layers))
	for i, l := range layers {
		c.ModelFS.DiffIDs[i] = l.Digest.String()
	}
	data, _ := json.Marshal(c) // strings and slices only: cannot fail
	return ocispec.Descriptor{
		MediaType: MediaTypeModelConfig,
		Digest:    godigest.FromBytes(data),
		Size:      int64(len(data)),
	}, data
}
