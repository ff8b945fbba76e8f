package main

// Paths the command line names that cannot be what they must: an install
// root (--out, --dir, [dirs]) that is, or is below, a file; a manifest add
// would make in a folder that does not exist, or a folder as add's manifest.
// Each is one line, with a hint, before anything is read or written.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/djok/modelfetch/internal/hints"
	"github.com/djok/modelfetch/pkg/manifest"
)

// maxDepth bounds the walk up a path's parents.
const maxDepth = 4096

// fileInTheWay is p, or the nearest of its parents that exists, when that is
// not a folder (a file, a device): no folder can be made there. It is ""
// when p is a folder or can be made one.
func fileInTheWay(p string) string {
	q := filepath.Clean(p)
	for range maxDepth {
		fi, err := os.Stat(q)
		if err == nil {
			if fi.IsDir() {
				return ""
			}
			return q
		}
		parent := filepath.Dir(q)
		if parent == q {
			return ""
		}
		q = parent
	}
	return ""
}

// checkRoots refuses an install root of the selected models that is, or is
// below, a file, naming where the root came from: --out, --dir or the
// manifest's [dirs].
func (o *manifestOptions) checkRoots(m *manifest.Manifest, models []*manifest.Model) error {
	seen := map[string]bool{}
	for _, mod := range models {
		if seen[mod.Dir] {
			continue
		}
		seen[mod.Dir] = true
		root, ok := m.Dirs[mod.Dir]
		if !ok {
			continue // Targets says the root is not defined
		}
		given, flag := o.rootFlag(mod.Dir)
		if flag == "" {
			given = root
		}
		file := fileInTheWay(given)
		if file == "" {
			continue
		}
		what := file + " is a file, not a folder"
		if flag == "" {
			return &manifest.Error{File: m.File, Key: "dirs." + mod.Dir, Msg: fmt.Sprintf("install root %s: %s", root, what),
				Hint: "name a folder there (made when missing), or pass --out DIR"}
		}
		return &usageError{&hinted{fmt.Errorf("%s: %s", flag, what),
			flagName(flag) + " names the folder to install into (made when missing): pick one that is not a file"}}
	}
	return nil
}

// rootFlag is the path --out or --dir gave the root name, and the flag as
// it was given ("" when neither did: the manifest's [dirs] did).
func (o *manifestOptions) rootFlag(name string) (path, flag string) {
	if name == manifest.DefaultDir && o.out != "" {
		return o.out, "--out " + o.out
	}
	for _, d := range o.dirs {
		if n, p, _ := strings.Cut(d, "="); n == name {
			path, flag = p, "--dir "+d // the last one given wins, as in Apply
		}
	}
	return path, flag
}

func flagName(flag string) string {
	name, _, _ := strings.Cut(flag, " ")
	return name
}

// addManifestPath refuses, before anything is read, a manifest add must
// make in a folder that does not exist (or is a file), or one that is a
// folder.
func addManifestPath(file string) error {
	if fi, err := os.Stat(file); err == nil && fi.IsDir() {
		return &usageError{&hinted{fmt.Errorf("cannot add to the manifest %s: it is a folder, not a file", file),
			fmt.Sprintf("pass -m the manifest's file, such as %s", filepath.Join(file, "models.toml"))}}
	} else if err == nil {
		return nil
	}
	why, missing := folderTrouble(file)
	if why == "" {
		return nil
	}
	hint := "pass -m a path in an existing folder"
	if missing {
		hint = fmt.Sprintf("make it first (`%s`), or %s", hints.Shell("mkdir", "-p", filepath.Dir(file)), hint)
	}
	return &usageError{&hinted{fmt.Errorf("cannot make the manifest %s: %s", file, why), hint}}
}

// manifestFolderHint says why a manifest that cannot be opened is not there:
// its folder does not exist, or is a file ("" when neither).
func manifestFolderHint(file string) string {
	why, _ := folderTrouble(file)
	return why
}

// folderTrouble says why file's folder cannot hold it: a file is in the way,
// or the folder does not exist (missing); "" when neither.
func folderTrouble(file string) (why string, missing bool) {
	dir := filepath.Dir(file)
	if f := fileInTheWay(dir); f != "" {
		return f + " is a file, not a folder", false
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "the folder " + dir + " does not exist", true
	}
	return "", false
}
