package fetch

import (
	"errors"
	"io/fs"
	"net/http"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/manifest"
)

// candidate is one place download tries: a mirror, by the installed digest,
// or one of the model's own sources.
type candidate struct {
	src    *manifest.Source
	name   string // redacted URL, for output
	mirror string // the mirror it comes from ("" for the model's own source)
}

// candidates are the mirrors in order, then the model's own sources (none
// with MirrorOnly). A mirror serves the installed bytes as they are: no
// compression, the model's size, verified by the model's digest.
func (f *Fetcher) candidates(m *manifest.Model) []candidate {
	var out []candidate
	for _, mr := range f.o.Mirrors {
		u := mr.BlobURL(m.SHA256)
		src := &manifest.Source{URL: u.String(), Parsed: u, Compression: decompress.None, Size: m.Size}
		out = append(out, candidate{src: src, name: redact.URL(u), mirror: mr.String()})
	}
	if f.o.MirrorOnly {
		return out
	}
	for _, src := range m.Sources {
		name := redact.URL(src.Parsed)
		if isOCI(src) {
			src = ociServed(src)
		}
		out = append(out, candidate{src: src, name: name})
	}
	return out
}

// more reports whether any of rest will be tried (offline: file: only).
func (f *Fetcher) more(rest []candidate) bool {
	for _, c := range rest {
		if !f.o.Offline || c.src.Parsed.Scheme == "file" {
			return true
		}
	}
	return false
}

// missError is a mirror that does not hold the file: not a failure, the
// next source is tried without a word.
type missError struct{ mirror string }

func (e *missError) Error() string   { return "not in the mirror " + e.mirror }
func (e *missError) Permanent() bool { return true }

// miss reports whether err, from a mirror, means it does not hold the file
// (404, or a file: mirror without it).
func miss(c candidate, err error) bool {
	if c.mirror == "" {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusNotFound
	}
	var pe *permanentError
	return c.src.Parsed.Scheme == "file" && errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist)
}
