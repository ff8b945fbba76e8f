package manifest

import (
	"fmt"
	"strings"

	"github.com/djok/modelfetch/pkg/digest"
)

// Selection is what a command asks of a manifest: install roots replaced
// (Out for the dir "models", Dirs as NAME=PATH) and the models to work on
// (Only; none: every model).
type Selection struct {
	Out  string
	Dirs []string
	Only []string
}

// SelectionError is a Selection that contradicts itself or the manifest: the
// request is wrong, not the manifest.
type SelectionError struct{ Err error }

func (e *SelectionError) Error() string { return e.Err.Error() }
func (e *SelectionError) Unwrap() error { return e.Err }

func selectionErrorf(format string, args ...any) error {
	return &SelectionError{fmt.Errorf(format, args...)}
}

// Apply replaces the install roots sel names, checks the destinations and
// returns the models sel selects, in manifest order. A wrong request is a
// *SelectionError; destinations that collide are the manifest's error.
func (m *Manifest) Apply(sel Selection) ([]*Model, error) {
	for _, d := range sel.Dirs {
		if name, _, _ := strings.Cut(d, "="); name == DefaultDir && sel.Out != "" {
			return nil, selectionErrorf("--out and --dir %s= both set the root %q: give one", name, name)
		}
	}
	if sel.Out != "" {
		if err := m.SetDir(DefaultDir, sel.Out); err != nil {
			return nil, &SelectionError{err}
		}
	}
	for _, d := range sel.Dirs {
		name, p, ok := strings.Cut(d, "=")
		if !ok || name == "" || p == "" {
			return nil, selectionErrorf("--dir %q: want NAME=PATH", d)
		}
		if err := m.SetDir(name, p); err != nil {
			return nil, selectionErrorf("--dir %s: %w", name, err)
		}
	}
	if err := m.CheckDestinations(); err != nil {
		return nil, err
	}
	models, err := m.Select(sel.Only)
	if err != nil {
		return nil, &SelectionError{err}
	}
	return models, nil
}

// LockedDigests maps the sha256 of every locked model, selected or not
// (another run may install them), to the models' names.
func (m *Manifest) LockedDigests() map[digest.Digest][]string {
	out := map[digest.Digest][]string{}
	for _, mod := range m.Models {
		if mod.Locked() {
			out[mod.SHA256] = append(out[mod.SHA256], mod.Name)
		}
	}
	return out
}
