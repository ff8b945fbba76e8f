package oci

import (
	"testing"

	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFileMissNamesTheTarFolder: a PATH no layer holds, in an artifact
// whose layer is a KitOps-style tar folder, says to name a file in it.
func TestFileMissNamesTheTarFolder(t *testing.T) {
	a := &Artifact{Ref: testRef, Layers: []ocispec.Descriptor{{
		MediaType: "application/vnd.kitops.modelkit.model.v1.tar+gzip", Digest: godigest.FromString("w"), Size: 1,
		Annotations: map[string]string{AnnotationFilepath: "weights/"}}}}
	_, err := a.File("codeformer.pth")
	var fe *FileError
	require.ErrorAs(t, err, &fe)
	assert.EqualError(t, err, `file "codeformer.pth": no layer of the artifact holds it (it holds ["weights"]; "weights" is a tar layer: name a file in it, as weights/FILE)`)
}
