package mirror

import (
	"slices"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/manifest"
)

// FirstRegistry is the first registry (oci://) mirror of ms, the one a
// push fills; ok is false when there is none.
func FirstRegistry(ms []Mirror) (m Mirror, ok bool) {
	for _, m := range ms {
		if m.Kind == OCI {
			return m, true
		}
	}
	return Mirror{}, false
}

// HasRegistry reports whether one of ms is a registry.
func HasRegistry(ms []Mirror) bool {
	_, ok := FirstRegistry(ms)
	return ok
}

// WithRegistries is mirrors followed by the registries refs read from
// (oci:// sources; hf:// ones are skipped), once each, as registry mirrors:
// Transport then authenticates the requests to them all the same way
// (Docker config, helpers, one token per repository).
func WithRegistries(mirrors []Mirror, refs []*manifest.Ref) []Mirror {
	out := slices.Clone(mirrors)
	for _, r := range refs {
		if r == nil || r.Scheme == manifest.SchemeHF {
			continue
		}
		m := Mirror{Kind: OCI, Registry: r.Registry, Repository: r.Repo, PlainHTTP: r.Scheme == manifest.SchemeOCIHTTP}
		if !slices.ContainsFunc(out, func(o Mirror) bool {
			return o.Kind == OCI && o.Registry == m.Registry && o.PlainHTTP == m.PlainHTTP
		}) {
			out = append(out, m)
		}
	}
	return out
}

// TriedURLs puts, in urls (by model: the URLs each is tried from), each
// model's mirror URLs first, redacted, and leaves only those when
// mirrorOnly. It returns urls.
func TriedURLs(mirrors []Mirror, mirrorOnly bool, urls map[string][]string, models []*manifest.Model) map[string][]string {
	if len(mirrors) == 0 {
		return urls
	}
	for _, m := range models {
		var list []string
		for _, mr := range mirrors {
			list = append(list, redact.URL(mr.BlobURL(m.SHA256)))
		}
		if !mirrorOnly {
			list = append(list, urls[m.Name]...)
		}
		urls[m.Name] = list
	}
	return urls
}
