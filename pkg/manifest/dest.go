package manifest

import (
	"fmt"
	"os"
	"path/filepath"
)

// CheckDestinations reports models that would install to one file, or one
// into another's file, with the roots as they are now: call it after SetDir
// (--out, --dir) and before anything is written. Two [dirs] names for one
// folder, nested roots (/x and /x/sub) and overrides that point at one place
// all lead there; the file would be swapped by every run. Destinations are
// compared as clean absolute paths, with the symlinks of their existing
// folders resolved. Models whose root is not defined are left to Root. The
// error is an ErrorList naming both models.
func (m *Manifest) CheckDestinations() error {
	errs := errorList{file: m.File}
	owner := map[string]*Model{} // resolved destination -> model
	type dest struct {
		mod  *Model
		path string
	}
	var dests []dest
	for _, mod := range m.Models {
		root, ok := m.Dirs[mod.Dir]
		if !ok || mod.Path == "" {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(mod.Path))
		p = filepath.Join(resolveExisting(filepath.Dir(p)), filepath.Base(p))
		if other, dup := owner[p]; dup {
			errs.add(&Error{File: m.File, Line: mod.Line, Key: "models." + mod.Name,
				Msg:  fmt.Sprintf("installs to %s, as model %q does", p, other.Name),
				Hint: "give each model its own file: two roots point at one folder"})
			continue
		}
		owner[p] = mod
		dests = append(dests, dest{mod, p})
	}
	for _, d := range dests {
		for dir := filepath.Dir(d.path); ; dir = filepath.Dir(dir) {
			if other, ok := owner[dir]; ok {
				errs.add(&Error{File: m.File, Line: d.mod.Line, Key: "models." + d.mod.Name,
					Msg:  fmt.Sprintf("installs to %s, inside the file model %q installs to", d.path, other.Name),
					Hint: "give each model its own file: two roots point at one folder"})
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	return errs.err()
}

// resolveExisting resolves the symlinks of the longest existing prefix of the
// absolute path p and joins the rest to it.
func resolveExisting(p string) string {
	rest := ""
	for {
		if _, err := os.Lstat(p); err == nil {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				return filepath.Join(r, rest)
			}
			return filepath.Join(p, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}
