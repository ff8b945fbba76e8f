package main

// Hints that depend on how modelfetch was started (the environment, the
// flags); which hint follows which failure is internal/hints'.

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/internal/hints"
	"github.com/djok/modelfetch/pkg/manifest"
)

// hintRun is how this command was started, as the hints name it.
func (o *manifestOptions) hintRun(env env) hints.Run {
	return hints.Run{Manifest: o.manifest, ManifestArgs: manifestArg(o.manifest, env), Out: o.out, Dirs: o.dirs, Only: o.only, HubOffline: isTrue(env.HFHubOffline)}
}

// manifestArg is "-m FILE", unless FILE is what a bare command reads.
func manifestArg(file string, env env) []string {
	if file == env.defaultManifest() {
		return nil
	}
	return []string{"-m", file}
}

// missingManifest says where the manifest's name came from when the file
// does not exist: the default, or MODELFETCH_MANIFEST; or, for another name,
// that its folder does not exist or is a file.
func missingManifest(err error, file string, env env) error {
	var ml manifest.ErrorList
	if !errors.As(err, &ml) || len(ml) != 1 || ml[0].Line != 0 || statErr(file) == nil {
		return err
	}
	if file != env.defaultManifest() || !errors.Is(statErr(file), fs.ErrNotExist) {
		if ml[0].Hint == "" {
			ml[0].Hint = manifestFolderHint(file)
		}
		return err
	}
	if env.Manifest != "" {
		ml[0].Hint = fmt.Sprintf("MODELFETCH_MANIFEST names %s; pass -m FILE, or set MODELFETCH_MANIFEST to the manifest", file)
	} else {
		ml[0].Hint = fmt.Sprintf("without -m FILE or MODELFETCH_MANIFEST modelfetch reads %s in the current folder; pass -m FILE", file)
	}
	return err
}

// flagHint adds to a flag error the nearest flag of cmd, for a mistyped one,
// and the help that lists them all.
func flagHint(cmd *cobra.Command, err error) error {
	help := fmt.Sprintf("`%s --help` lists the flags", cmd.CommandPath())
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return &usageError{&hinted{err, help}}
	}
	name, _, _ = strings.Cut(name, "=")
	if best := hints.NearestFlags(cmd.Flags(), name); len(best) > 0 {
		help = "did you mean " + strings.Join(best, " or ") + "? " + help
	}
	return &usageError{&hinted{err, help}}
}
