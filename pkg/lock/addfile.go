package lock

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/djok/modelfetch/pkg/manifest"
)

// AddRequest is an add to a manifest file: the models Add describes, listed
// with Lister, appended to File (made when there is none) and locked with
// the prober NewProber makes for them.
type AddRequest struct {
	File      string
	Add       AddOptions
	Lister    Lister
	NewProber func([]*manifest.Model) (Prober, error)
	Options   Options
	// LockDir is where the manifest's write lock is taken (as lock takes it).
	LockDir string
}

// Added is what AddFile did.
type Added struct {
	Models []manifest.NewModel
	// Report is lock's, nil when nothing was locked.
	Report *Report
	// Written: the models were recorded. When one did not lock, nothing is
	// written and the report's findings say why.
	Written bool
}

// AddFile appends the models r describes to r.File and locks them, or
// writes nothing. A manifest it made for the add is removed again when
// nothing was written. A wrong request is an ErrBadAdd.
func AddFile(ctx context.Context, r AddRequest) (Added, error) {
	var a Added
	created, err := ensureManifest(r.File)
	if err != nil {
		return a, err
	}
	defer func() {
		if created && !a.Written {
			os.Remove(r.File) // made empty for this add, which wrote nothing
		}
	}()
	src, err := os.ReadFile(r.File)
	if err != nil {
		return a, err
	}
	abs, err := filepath.Abs(r.File)
	if err != nil {
		return a, err
	}
	base := filepath.Dir(abs)
	if a.Models, err = NewModels(ctx, r.Lister, r.Add); err != nil {
		return a, err
	}
	out, rep, err := AddText(ctx, r.NewProber, r.File, base, src, a.Models, r.Options)
	a.Report = rep
	if err != nil || out == nil {
		return a, err
	}
	redo := func(cur []byte) ([]byte, error) {
		again, err := manifest.AppendModels(r.File, base, cur, a.Models)
		if err != nil {
			return nil, err
		}
		return manifest.Apply(r.File, base, again, rep.Edits)
	}
	if err := Rewrite(ctx, r.File, src, out, r.LockDir, redo); err != nil {
		return a, err
	}
	a.Written = true
	return a, nil
}

// ensureManifest makes an empty manifest file where there is none, and
// says whether it did.
func ensureManifest(file string) (bool, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, f.Close()
}
