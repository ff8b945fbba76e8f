package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/djok/modelfetch/internal/display"
	"github.com/djok/modelfetch/internal/hints"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/rules"
)

type addOptions struct {
	netOptions
	outputOptions
	manifest string
	add      lock.AddOptions
	download bool
	maxSize  int64
}

func newAddCmd(stderr io.Writer, env env) *cobra.Command {
	o := &addOptions{}
	cmd := &cobra.Command{
		Use:   "add NAME SOURCE",
		Short: "Append a model to the manifest and lock it",
		Long: `add appends a model read from SOURCE (an https, http or file: URL, or
hf://[datasets/|spaces/]ORG/REPO[@REV]/PATH) to the manifest, creating the
manifest when there is none, and locks it: its sha256 and size, and the
commit an hf:// branch or tag names now. The rest of the file is kept byte
for byte. The installed path is the source's file name unless --path says.

hf://ORG/REPO[@REV] with no file adds one model per file of the repository
(NAME.FILE, below the folder --path, NAME by default), all pinned to one
commit; --include and --exclude (shell patterns, '*' crosses '/') choose the
files. Nothing is written unless every new model locks.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.add.Name, o.add.Source = args[0], args[1]
			return runAdd(cmd, o, stderr, env)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.manifest, "manifest", "m", env.defaultManifest(), "the manifest to add to (env MODELFETCH_MANIFEST)")
	fs.StringVar(&o.add.Path, "path", "", "installed `PATH` below its root (for a repository: the folder of its files)")
	fs.StringVar(&o.add.Dir, "dir", "", "the install `ROOT`: a name of [dirs] (default models)")
	fs.StringArrayVar(&o.add.Include, "include", nil, "add only the repository's files matching `GLOB` (repeatable)")
	fs.StringArrayVar(&o.add.Exclude, "exclude", nil, "leave out the repository's files matching `GLOB` (repeatable)")
	fs.BoolVar(&o.download, "download", false, "download and hash hf:// files too, trusting no hub metadata")
	fs.Int64Var(&o.maxSize, "max-size", lock.DefaultMaxSize, "most `BYTES` decoded from a source")
	o.netOptions.addFlags(fs, "jobs", "offline", "mirror", "mirror-only")
	o.outputOptions.addFlags(fs, true, false)
	return cmd
}

func runAdd(cmd *cobra.Command, o *addOptions, stderr io.Writer, env env) error {
	mode, err := o.validate(env)
	if err != nil {
		return err
	}
	if err := addManifestPath(o.manifest); err != nil {
		return err
	}
	p := display.NewProgress(stderr, mode, !o.quiet)
	// Listing the source (the hub's tree, a HEAD) is before any model exists
	// for the url rules to rewrite; they still say which hosts it may reach.
	listing, err := o.sitePlan(env, nil)
	if err != nil {
		return err
	}
	hub := lock.HubProber{Download: o.download}
	var fetcher *fetch.Fetcher // the one newProber makes, for the registry's pins
	newProber := func(models []*manifest.Model) (lock.Prober, error) {
		site, err := o.sitePlan(env, models)
		var blocked rules.Blocked
		if err != nil && !errors.As(err, &blocked) {
			return nil, err
		}
		f := o.fetcher(env, site, p)
		hub.Next, hub.Hub, fetcher = display.ShowProbes(f, p), f, f
		return lock.UnderRules(hub, site.Site), nil
	}
	added, err := lock.AddFile(cmd.Context(), lock.AddRequest{File: o.manifest, Add: o.add,
		Lister: o.fetcher(env, listing, p), NewProber: newProber, LockDir: env.cacheDir(o.cacheDir),
		Options: lock.Options{MaxSize: o.maxSize, Resolver: pinResolvers(&hub, func() *fetch.Fetcher { return fetcher })}})
	p.Finish()
	if errors.Is(err, lock.ErrBadAdd) {
		return &usageError{errors.New(strings.TrimPrefix(err.Error(), lock.ErrBadAdd.Error()+": "))}
	} else if err != nil {
		return err
	}
	return o.report(&display.UI{Stderr: stderr}, added)
}

// validate checks the flags and returns the progress mode.
func (o *addOptions) validate(env env) (display.Mode, error) {
	o.jobs = 1
	if err := o.netOptions.validate(env); err != nil {
		return 0, err
	}
	if o.maxSize <= 0 || o.maxSize > manifest.MaxSize {
		return 0, usagef("--max-size must be between 1 and %d bytes", int64(manifest.MaxSize))
	}
	return o.mode(env)
}

// report says what add did: the models added, or, when lock did not lock
// them all, why nothing was written.
func (o *addOptions) report(u *display.UI, added lock.Added) error {
	if !added.Written {
		rep := added.Report
		for _, f := range rep.Findings {
			u.Errorf("%s", f)
		}
		for _, h := range hints.HubFindings(rep.Findings) {
			u.Hintf("%s", h)
		}
		u.Hintf("nothing was added to %s", o.manifest)
		return reported(lockKind(rep.Outcome()))
	}
	u.Infof(o.quiet, "add: %s to %s", modelList(added.Models), o.manifest)
	return nil
}

func modelList(nms []manifest.NewModel) string {
	if len(nms) == 1 {
		return "added " + nms[0].Name
	}
	return fmt.Sprintf("added %d models (%s, ...)", len(nms), nms[0].Name)
}
