package oci

import (
	"fmt"
	"path"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/djok/modelfetch/pkg/decompress"
)

// The annotations that name a layer's file, in the order they are read.
const (
	// AnnotationFilepath is ModelPack's (and Docker Model Runner's).
	AnnotationFilepath = "org.cncf.model.filepath"
	// AnnotationTitle is oras' and KitOps'.
	AnnotationTitle = ocispec.AnnotationTitle
	// annotationUnpack marks a layer oras packed from a folder (tar+gzip).
	annotationUnpack = "io.deis.oras.content.unpack"
)

// Layer is the layer that holds one file of an artifact, and how to read
// the file out of it.
type Layer struct {
	Desc ocispec.Descriptor
	// Tar: the layer is a tar archive (compressed as Compression) and the
	// file is its entry Entry. Otherwise the layer's bytes are the file.
	Tar         bool
	Compression decompress.Format
	Entry       string
}

// File is the layer of a that holds the file at p: the layer whose path
// annotation is p, else the tar layer of the folder p is in (a KitOps or
// oras folder layer). Two layers claiming p is an *IntegrityError naming
// both.
func (a *Artifact) File(p string) (Layer, error) {
	want := cleanPath(p)
	var exact, folder []ocispec.Descriptor
	best := 0
	for _, l := range a.Layers {
		lp := layerPath(l)
		switch {
		case lp == "":
		case lp == want:
			exact = append(exact, l)
		case isTar(l) && strings.HasPrefix(want, lp+"/") && len(lp) >= best:
			if len(lp) > best {
				folder, best = folder[:0], len(lp)
			}
			folder = append(folder, l)
		}
	}
	pick := exact
	if len(pick) == 0 {
		pick = folder
	}
	switch len(pick) {
	case 0:
		return Layer{}, &FileError{Ref: a.Ref, Path: p, Reason: "no layer of the artifact holds it" + a.pathsHint()}
	case 1:
	default:
		return Layer{}, &IntegrityError{Ref: a.Ref, Reason: fmt.Sprintf("layers %s and %s both claim %q", pick[0].Digest, pick[1].Digest, p)}
	}
	l := pick[0]
	if !isTar(l) {
		if compressedFile(l.MediaType) {
			return Layer{}, &FileError{Ref: a.Ref, Path: p, Reason: "its layer is one compressed file (" + l.MediaType + "), which is not supported: push it raw or as a tar"}
		}
		return Layer{Desc: l}, nil
	}
	return Layer{Desc: l, Tar: true, Compression: tarCompression(l.MediaType), Entry: want}, nil
}

// pathsHint names a few of the paths the artifact does hold.
func (a *Artifact) pathsHint() string {
	var ps []string
	for _, l := range a.Layers {
		if lp := layerPath(l); lp != "" {
			ps = append(ps, lp)
		}
	}
	if len(ps) == 0 {
		return " (no layer is annotated with " + AnnotationFilepath + " or " + AnnotationTitle + ")"
	}
	sort.Strings(ps)
	more := ""
	if len(ps) > 5 {
		ps, more = ps[:5], fmt.Sprintf(" and %d more", len(ps)-5)
	}
	return fmt.Sprintf(" (it holds %q%s)", ps, more)
}

// layerPath is the path l's annotations give it, cleaned; "" for none.
func layerPath(l ocispec.Descriptor) string {
	p := l.Annotations[AnnotationFilepath]
	if p == "" {
		p = l.Annotations[AnnotationTitle]
	}
	if p == "" {
		return ""
	}
	return cleanPath(p)
}

// cleanPath drops "./" and a trailing "/" (KitOps writes folders so).
func cleanPath(p string) string {
	p = strings.TrimPrefix(p, "./")
	if p == "" {
		return ""
	}
	return path.Clean(p)
}

// isTar reports whether l is a tar archive: a media type ending .tar,
// .tar+gzip or .tar+zstd (ModelPack, KitOps, OCI image layers). The one
// exception is oras' default for a single file, the OCI image layer type
// with the raw file in it, which oras marks by not setting its unpack
// annotation.
func isTar(l ocispec.Descriptor) bool {
	if l.MediaType == ocispec.MediaTypeImageLayer && l.Annotations[annotationUnpack] != "true" {
		return false
	}
	_, ok := tarSuffix(l.MediaType)
	return ok
}

func tarSuffix(mt string) (decompress.Format, bool) {
	mt = strings.ToLower(mt)
	switch {
	case strings.HasSuffix(mt, ".tar"), strings.HasSuffix(mt, "/tar"):
		return decompress.None, true
	case strings.HasSuffix(mt, ".tar+gzip"), strings.HasSuffix(mt, "/tar+gzip"):
		return decompress.Gzip, true
	case strings.HasSuffix(mt, ".tar+zstd"), strings.HasSuffix(mt, "/tar+zstd"):
		return decompress.Zstd, true
	}
	return decompress.None, false
}

func tarCompression(mt string) decompress.Format {
	f, _ := tarSuffix(mt)
	return f
}

// compressedFile reports a media type for one compressed file (+gzip,
// +zstd without tar), whose digest is not the file's.
func compressedFile(mt string) bool {
	mt = strings.ToLower(mt)
	return strings.HasSuffix(mt, "+gzip") || strings.HasSuffix(mt, "+zstd")
}
