package fetch

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/djok/modelfetch/pkg/manifest"
)

// Target is an artifact and where it goes.
type Target struct {
	Model *manifest.Model
	// Root is the absolute install root; Model.Path is relative to it.
	Root string
	// FileMode and DirMode apply to the installed file and to directories
	// created for it.
	FileMode, DirMode os.FileMode
	// Owner, when not nil, is given to the file and created directories.
	Owner *manifest.Owner
}

// Dest returns the absolute destination path.
func (t Target) Dest() string { return filepath.Join(t.Root, filepath.FromSlash(t.Model.Path)) }

// Targets resolves where each model goes. owner overrides the manifest's
// owner; chown false means ownership is not changed at all (not root).
func Targets(m *manifest.Manifest, models []*manifest.Model, owner *manifest.Owner, chown bool) ([]Target, error) {
	if owner == nil {
		owner = m.Defaults.Owner
	}
	if !chown {
		owner = nil
	}
	var out []Target
	var errs manifest.ErrorList
	for _, mod := range models {
		root, err := m.Root(mod)
		if err != nil {
			var me *manifest.Error
			if errors.As(err, &me) {
				errs = append(errs, me)
				continue
			}
			return nil, err
		}
		if err := checkConfined(root, mod.Path); err != nil {
			errs = append(errs, &manifest.Error{File: m.File, Line: mod.Line, Key: "models." + mod.Name + ".path", Msg: err.Error()})
			continue
		}
		out = append(out, Target{Model: mod, Root: root, FileMode: m.Defaults.FileMode, DirMode: m.Defaults.DirMode, Owner: owner})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// targetResult returns the Result fields known before any work on targets[i].
func targetResult(targets []Target) func(i int) Result {
	return func(i int) Result {
		t := targets[i]
		return Result{Name: t.Model.Name, Dest: t.Dest(), Size: t.Model.Size, Digest: t.Model.SHA256}
	}
}

// Models are the targets' models, in order.
func Models(targets []Target) []*manifest.Model {
	out := make([]*manifest.Model, len(targets))
	for i, t := range targets {
		out[i] = t.Model
	}
	return out
}
