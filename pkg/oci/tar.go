package oci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
)

// Extract returns, as a stream, the bytes of the tar layer l's entry, read
// from layer (the layer's bytes as served, from byte 0). Memory is bounded
// whatever the layer holds: the archive is read once, front to back, with
// no buffer of the layer and no temporary copy.
//
//   - The entry must be a regular file whose name is l.Entry; a link, a
//     folder, an absolute name or one with ".." is refused.
//   - size, when not negative, is the entry's size as models.toml declares
//     it: a header claiming another size fails at once, before its data.
//   - Everything after the entry is read and thrown away, and the digest
//     and size of the whole layer are checked at its end: the last Read
//     returns io.EOF only when the layer is the one the manifest names.
//
// Close releases the decoder; it does not close layer.
func Extract(layer io.Reader, ref Ref, l Layer, size int64) (io.ReadCloser, error) {
	want, err := digest.Parse(l.Desc.Digest.Encoded())
	if err != nil || !l.Tar {
		return nil, &FileError{Ref: ref, Path: l.Entry, Reason: "not a tar layer with a sha256 digest"}
	}
	verified := digest.NewReader(layer, want, l.Desc.Size)
	dec, err := decompress.NewReader(l.Compression, verified)
	if err != nil {
		return nil, err
	}
	return &extractor{ref: ref, layer: verified, dec: dec, tr: tar.NewReader(dec), entry: l.Entry, size: size, digest: l.Desc.Digest.String()}, nil
}

type extractor struct {
	ref    Ref
	layer  io.Reader // the verified layer bytes
	dec    io.ReadCloser
	tr     *tar.Reader
	entry  string
	size   int64
	digest string

	found bool
	done  bool
	err   error
}

func (x *extractor) Read(p []byte) (int, error) {
	if x.err != nil {
		return 0, x.err
	}
	if x.done {
		return 0, io.EOF
	}
	if !x.found {
		if x.err = x.find(); x.err != nil {
			return 0, x.err
		}
		x.found = true
	}
	n, err := x.tr.Read(p)
	switch {
	case err == io.EOF:
		if x.err = x.finish(); x.err != nil {
			return n, x.err
		}
		x.done = true
		return n, io.EOF
	case err != nil:
		x.err = x.tarFailure(err)
		return n, x.err
	}
	return n, nil
}

func (x *extractor) Close() error { return x.dec.Close() }

// find reads headers (skipping the data of other entries) up to the entry.
func (x *extractor) find() error {
	for {
		h, err := x.tr.Next()
		if err == io.EOF {
			return x.drainAfter(&FileError{Ref: x.ref, Path: x.entry, Reason: "the tar layer " + x.digest + " holds no such entry"})
		}
		if err != nil {
			return x.tarFailure(err)
		}
		if entryName(h.Name) != x.entry {
			continue
		}
		return x.check(h)
	}
}

// drainAfter reads the rest of the layer, so that a layer that does not
// match its digest says so rather than the error found in it.
func (x *extractor) drainAfter(err error) error {
	if _, derr := io.Copy(io.Discard, x.layer); derr != nil {
		return x.tarFailure(derr)
	}
	return err
}

// check refuses a selected entry that is not a plain file of the declared size.
func (x *extractor) check(h *tar.Header) error {
	refuse := func(why string) error {
		return &FileError{Ref: x.ref, Path: x.entry, Reason: fmt.Sprintf("the tar entry %q %s", h.Name, why)}
	}
	switch {
	case strings.HasPrefix(h.Name, "/"):
		return refuse("has an absolute name; refused")
	case hasDotDot(h.Name):
		return refuse(`has ".." in its name; refused`)
	case h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink:
		return refuse("is a link (to " + fmt.Sprintf("%q", h.Linkname) + "); refused")
	case h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA:
		return refuse("is not a regular file")
	case x.size >= 0 && h.Size != x.size:
		return &IntegrityError{Ref: x.ref, Reason: fmt.Sprintf("the tar entry %q is %d bytes; models.toml declares %d", h.Name, h.Size, x.size)}
	}
	return nil
}

// finish reads past the entry to the end of the archive (refusing a second
// entry of the same name, which tar would let replace the first), then to
// the end of the compressed stream and of the layer, whose digest the last
// read checks.
func (x *extractor) finish() error {
	for {
		h, err := x.tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.tarFailure(err)
		}
		if entryName(h.Name) == x.entry {
			return x.drainAfter(&IntegrityError{Ref: x.ref, Reason: fmt.Sprintf("the tar layer %s holds %q twice", x.digest, x.entry)})
		}
	}
	if _, err := io.Copy(io.Discard, x.dec); err != nil {
		return x.tarFailure(err)
	}
	if _, err := io.Copy(io.Discard, x.layer); err != nil {
		return x.tarFailure(err)
	}
	return nil
}

// tarFailure keeps the layer's own errors (a digest mismatch, a network
// fault, a truncated stream) and makes a malformed archive an integrity
// failure: the layer is complete but is no tar.
func (x *extractor) tarFailure(err error) error {
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, tar.ErrFieldTooLong) || errors.Is(err, tar.ErrInsecurePath) {
		return x.drainAfter(&IntegrityError{Ref: x.ref, Reason: "the layer " + x.digest + " is not a valid tar archive"})
	}
	return err
}

// entryName is a tar entry's name as a layer path: "./" and leading "/"
// dropped, cleaned.
func entryName(name string) string {
	name = strings.TrimLeft(strings.TrimPrefix(name, "./"), "/")
	if name == "" {
		return ""
	}
	return path.Clean(name)
}

func hasDotDot(name string) bool {
	for _, s := range strings.Split(name, "/") {
		if s == ".." {
			return true
		}
	}
	return false
}
