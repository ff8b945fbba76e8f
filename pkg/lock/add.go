package lock

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
)

// AddOptions describe what `modelfetch add NAME SOURCE` appends.
type AddOptions struct {
	Name   string
	Source string
	// Path is the installed path; "" means the source's file name (for a
	// repository: the folder, NAME by default, its files go below).
	Path string
	// Dir is the install root's name; "" means the default.
	Dir string
	// Include and Exclude filter the files of an hf:// repository (shell
	// patterns as huggingface_hub's allow_patterns: '*' crosses '/').
	Include, Exclude []string
}

// MaxAdd bounds the models one add appends.
const MaxAdd = 1000

// ErrBadAdd is wrapped by the errors of an add the user must change.
var ErrBadAdd = errors.New("bad add")

func badAdd(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadAdd}, args...)...)
}

// Lister lists a Hub repository (fetch.Fetcher).
type Lister interface {
	HubRevision(ctx context.Context, r *manifest.Ref) (string, error)
	HubTree(ctx context.Context, r *manifest.Ref, rev string) ([]fetch.HubEntry, error)
}

// NewModels returns what an add appends: one model for a URL, a file: or
// a hub file; one per matching file of an hf:// repository named without
// a file (hf://ORG/REPO[@REV]), all pinned to the commit REV names now.
func NewModels(ctx context.Context, hub Lister, o AddOptions) ([]manifest.NewModel, error) {
	if manifest.IsRef(o.Source) {
		r, err := manifest.ParseRepoRef(o.Source)
		if err != nil {
			return nil, badAdd("%v", err)
		}
		if r.Path == "" && r.Scheme != manifest.SchemeHF {
			return nil, badAdd("%s names no file: want %s://REGISTRY/REPO:TAG#PATH", o.Source, r.Scheme)
		}
		if r.Path == "" {
			return repoModels(ctx, hub, r, o)
		}
	}
	if len(o.Include)+len(o.Exclude) > 0 {
		return nil, badAdd("--include and --exclude choose files of a repository: give hf://ORG/REPO[@REV] without a file")
	}
	p := o.Path
	if p == "" {
		var err error
		if p, err = fileName(o.Source); err != nil {
			return nil, err
		}
	}
	return []manifest.NewModel{{Name: o.Name, Dir: o.Dir, Path: p, URLs: []string{o.Source}, Size: -1}}, nil
}

// fileName is the installed name a source suggests: its last path part,
// without a compression suffix for a URL (its bytes are decoded).
func fileName(src string) (string, error) {
	if r, err := manifest.ParseRef(src); err == nil {
		return path.Base(r.Path), nil
	}
	u, err := url.Parse(src)
	if err != nil {
		return "", badAdd("%s: %v", src, err)
	}
	p := u.Path
	if u.Opaque != "" {
		p = u.Opaque
	}
	base := path.Base(p)
	if f, b := decompress.ByName(base); f != decompress.None && b != "" {
		base = b
	}
	if base == "" || base == "." || base == "/" {
		return "", badAdd("cannot tell a file name from %s: give --path", src)
	}
	return base, nil
}

// repoModels lists r's repository at the commit its revision names now and
// makes a model of each file the patterns keep.
func repoModels(ctx context.Context, hub Lister, r *manifest.Ref, o AddOptions) ([]manifest.NewModel, error) {
	inc, err := globs(o.Include)
	if err != nil {
		return nil, err
	}
	exc, err := globs(o.Exclude)
	if err != nil {
		return nil, err
	}
	commit := ""
	if r.Immutable() {
		commit = r.Rev
	} else if commit, err = hub.HubRevision(ctx, r); err != nil {
		return nil, err
	}
	entries, err := hub.HubTree(ctx, r, commit)
	if err != nil {
		return nil, err
	}
	folder := o.Path
	if folder == "" {
		folder = o.Name
	}
	var out []manifest.NewModel
	for _, e := range entries {
		if e.Type != "file" || !keep(e.Path, inc, exc) {
			continue
		}
		if len(out) == MaxAdd {
			return nil, badAdd("more than %d files match; narrow them with --include/--exclude", MaxAdd)
		}
		nm := manifest.NewModel{Name: o.Name + "." + nameOf(e.Path), Dir: o.Dir, Path: path.Join(folder, e.Path),
			URLs: []string{strings.TrimSuffix(o.Source, "/") + "/" + e.Path}, Size: -1}
		if k := r.Key(); k != "" {
			nm.Pins = manifest.Pins{{Key: k, Value: commit}}
		}
		out = append(out, nm)
	}
	if len(out) == 0 {
		return nil, badAdd("no file of %s matches (of %d listed)", r.String(), len(entries))
	}
	return out, nil
}

// nameOf makes a model name's tail of a file path: '/' becomes '.', and
// what a name cannot hold '_'.
func nameOf(p string) string {
	b := []byte(strings.ReplaceAll(p, "/", "."))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// globs compiles shell patterns as fnmatch reads them: '*' is any run of
// characters ('/' too), '?' one, [...] a class; a pattern ending in '/'
// matches everything below that folder.
func globs(pats []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, p := range pats {
		if strings.HasSuffix(p, "/") {
			p += "*"
		}
		var b strings.Builder
		b.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch c := p[i]; c {
			case '*':
				b.WriteString(".*")
			case '?':
				b.WriteString(".")
			case '[':
				j := strings.IndexByte(p[i+1:], ']')
				if j < 0 {
					return nil, badAdd("pattern %q: '[' without ']'", p)
				}
				class := p[i+1 : i+1+j]
				if strings.HasPrefix(class, "!") {
					class = "^" + class[1:]
				}
				b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
				i += j + 1
			default:
				b.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		b.WriteString("$")
		re, err := regexp.Compile(b.String())
		if err != nil {
			return nil, badAdd("pattern %q: %v", p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func keep(p string, inc, exc []*regexp.Regexp) bool {
	match := func(res []*regexp.Regexp) bool {
		for _, re := range res {
			if re.MatchString(p) {
				return true
			}
		}
		return false
	}
	return (len(inc) == 0 || match(inc)) && !match(exc)
}

// AddText appends nms to src (the manifest's text; empty for a new one)
// and locks them with the prober newProber makes for them: the text to
// write, with every value lock found, and the report. When the report has
// findings, nil text: nothing is to be written, the findings say why.
func AddText(ctx context.Context, newProber func([]*manifest.Model) (Prober, error), file, baseDir string, src []byte, nms []manifest.NewModel, o Options) ([]byte, *Report, error) {
	text, err := manifest.AppendModels(file, baseDir, src, nms)
	if err != nil {
		return nil, nil, err
	}
	m, err := manifest.Parse(file, baseDir, text)
	if err != nil {
		return nil, nil, err
	}
	o.Named = map[string]bool{}
	var models []*manifest.Model
	for _, nm := range nms {
		o.Named[nm.Name] = true
		models = append(models, m.Model(nm.Name))
	}
	p, err := newProber(models)
	if err != nil {
		return nil, nil, err
	}
	rep, err := Run(ctx, p, models, o)
	if err != nil || len(rep.Findings) > 0 {
		return nil, rep, err
	}
	out, err := manifest.Apply(file, baseDir, text, rep.Edits)
	return out, rep, err
}
