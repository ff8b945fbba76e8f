package main

// Flags shared between commands, each declared once.

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/internal/credentials"
	"github.com/djok/modelfetch/internal/display"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/mirror"
)

// netOptions shape downloading: fetch, lock and cache warm share them.
type netOptions struct {
	jobs        int
	connections int
	retries     int
	idle        time.Duration
	speedLimit  int64
	speedTime   time.Duration
	cacheDir    string
	noCache     bool
	offline     bool
	noLock      bool
	urlRules    string
	mirrorFlags []string
	mirrorOnly  bool

	// Set by validate, from --mirror or MODELFETCH_MIRRORS and the Docker
	// config, for the commands that declare --mirror.
	hasMirrors bool
	mirrors    []mirror.Mirror
	registry   auth.CredentialFunc
	// Set by validate from HF_ENDPOINT and HF_TOKEN (hub.go).
	hub fetch.HubOptions
}

// addFlags declares the network flags, except those named in skip (a
// command where one means nothing).
func (o *netOptions) addFlags(fs *pflag.FlagSet, skip ...string) {
	all := pflag.NewFlagSet("network", pflag.ContinueOnError)
	all.IntVar(&o.jobs, "jobs", 4, "artifacts fetched at once")
	all.IntVar(&o.connections, "connections", 24, "most connections per large file, when its server allows ranges (the files of one host share its budget fairly: 16 at first, up to 24 while more make the host faster)")
	all.IntVar(&o.retries, "retries", 5, "retries of a transient fault per source")
	all.DurationVar(&o.idle, "idle-timeout", 30*time.Second, "a connection silent this long is stalled")
	all.Int64Var(&o.speedLimit, "speed-limit", 1024, "a connection slower than this many `BYTES` per second over --speed-time gives its source up (0: never)")
	all.DurationVar(&o.speedTime, "speed-time", time.Minute, "the window --speed-limit is measured over")
	all.StringVar(&o.cacheDir, "cache", "", "cache folder (env MODELFETCH_CACHE; default $XDG_CACHE_HOME/modelfetch, else ~/.cache/modelfetch)")
	all.BoolVar(&o.noCache, "no-cache", false, "neither read nor fill the cache")
	all.BoolVar(&o.offline, "offline", false, "never touch the network: only the cache and file: sources are read")
	all.StringArrayVar(&o.mirrorFlags, "mirror", nil, "a content-addressed mirror tried before the manifest's URLs: oci://HOST/REPO, oci+http://HOST:PORT/REPO or https://HOST/PATH/{sha256} (repeatable; env MODELFETCH_MIRRORS)")
	all.BoolVar(&o.mirrorOnly, "mirror-only", false, "never reach the manifest's URLs: mirrors and the cache only")
	all.StringVar(&o.urlRules, "url-rules", "", "rewrite, allow and block rules for the manifest's URLs, from `FILE` (env MODELFETCH_URL_RULES)")
	// For tests of what happens on filesystems without flock.
	all.BoolVar(&o.noLock, "unsafe-no-lock", false, "do not lock cache entries (as on a filesystem without flock)")
	_ = all.MarkHidden("unsafe-no-lock")
	all.VisitAll(func(f *pflag.Flag) {
		for _, s := range skip {
			if f.Name == s {
				return
			}
		}
		o.hasMirrors = o.hasMirrors || f.Name == "mirror"
		fs.AddFlag(f)
	})
}

func (o *netOptions) validate(env env) error {
	switch {
	case o.jobs < 1:
		return usagef("--jobs must be at least 1")
	case o.connections < 1:
		return usagef("--connections must be at least 1")
	case o.retries < 0:
		return usagef("--retries must not be negative")
	case o.idle <= 0:
		return usagef("--idle-timeout must be positive")
	case o.speedLimit < 0:
		return usagef("--speed-limit must not be negative")
	case o.speedTime <= 0:
		return usagef("--speed-time must be positive")
	case o.noCache && o.cacheDir != "":
		return usagef("--cache and --no-cache contradict each other")
	}
	if _, err := env.netrcDefaultAnyHost(); err != nil {
		return err
	}
	if err := o.loadHub(env); err != nil {
		return err
	}
	return o.loadMirrors(env)
}

// loadMirrors reads the mirrors (--mirror, else MODELFETCH_MIRRORS) and,
// when one is a registry, the Docker config's credentials.
func (o *netOptions) loadMirrors(env env) error {
	if !o.hasMirrors {
		return nil
	}
	var err error
	if len(o.mirrorFlags) > 0 {
		o.mirrors, err = mirror.ParseList(strings.Join(o.mirrorFlags, " "))
		if err != nil {
			return &usageError{fmt.Errorf("--mirror: %w", err)}
		}
	} else if o.mirrors, err = mirror.ParseList(env.Mirrors); err != nil {
		return &usageError{fmt.Errorf("MODELFETCH_MIRRORS: %w", err)}
	}
	if o.mirrorOnly && len(o.mirrors) == 0 {
		return usagef("--mirror-only needs a mirror (--mirror or MODELFETCH_MIRRORS)")
	}
	if mirror.HasRegistry(o.mirrors) && env.dockerConfig() != "" {
		// A config that cannot be used fails that registry, not the run:
		// the origin is tried, with a line that says why.
		o.registry = mirror.DockerCredentials(env.dockerConfig())
	}
	return nil
}

func (o *netOptions) cache(env env) *cache.Cache {
	if o.noCache {
		return nil
	}
	c := cache.New(env.cacheDir(o.cacheDir))
	c.NoClaim = o.noLock
	return c
}

// fetcher builds the engine for the models of site (whose hosts may receive
// the netrc default entry, and the url rules' credentials).
func (o *netOptions) fetcher(env env, site *sitePlan, obs fetch.Observer) *fetch.Fetcher {
	policy := credentialPolicy(env, site.netrc, site.Hosts())
	policy.Rules = site.creds
	client := fetch.NewClient(http.ProxyFromEnvironment, policy.Func(), o.idle)
	registries := site.registries(o.mirrors)
	client.Transport = mirror.Transport(client.Transport, registries, o.registryCredentials(env, registries))
	hub := o.hub
	hub.Refuse = site.Rules.RefuseHost // the url rules govern the Hub's API too
	return fetch.New(fetch.Options{
		Jobs:        o.jobs,
		Connections: o.connections,
		Retries:     o.retries,
		IdleTimeout: o.idle,
		MinSpeed:    speedOption(o.speedLimit),
		SpeedWindow: o.speedTime,
		Cache:       o.cache(env),
		Offline:     o.offline,
		Client:      client,
		Mirrors:     o.mirrors,
		MirrorOnly:  o.mirrorOnly,
		Observer:    obs,
		Hub:         hub,
	})
}

// credentialPolicy gathers what the credential policy needs: the netrc
// text (read once per run: readNetrc), HF_TOKEN, MODELFETCH_NETRC_DEFAULT
// and the hosts the manifest's sources name.
func credentialPolicy(env env, netrc string, hosts []string) credentials.Policy {
	p := credentials.Policy{HFToken: env.HFToken, Hosts: hosts, Netrc: netrc}
	p.DefaultAnyHost, _ = env.netrcDefaultAnyHost() // validated with the flags
	return p
}

// outputOptions shape what is printed.
type outputOptions struct {
	progress string
	json     bool
	quiet    bool
}

// addFlags declares -q and, where the command has them, --progress and --json.
func (o *outputOptions) addFlags(fs *pflag.FlagSet, progress, json bool) {
	o.progress = "none"
	if progress {
		fs.StringVar(&o.progress, "progress", "auto", "progress display: auto, bar, plain or none")
	}
	if json {
		fs.BoolVar(&o.json, "json", false, "print one JSON result document on stdout")
	}
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "print errors only (no progress, no summary)")
}

func (o *outputOptions) mode(env env) (display.Mode, error) {
	mode := display.ModeNone
	switch o.progress {
	case "auto":
		mode = display.ModePlain
		if env.IsTerminal != nil && env.IsTerminal() {
			mode = display.ModeBar
		}
	case "bar":
		mode = display.ModeBar
	case "plain":
		mode = display.ModePlain
	case "none":
	default:
		return 0, usagef("--progress %q: want auto, bar, plain or none", o.progress)
	}
	if o.quiet {
		return display.ModeNone, nil
	}
	return mode, nil
}

// speedOption maps --speed-limit 0 (off) to fetch's "negative means off".
func speedOption(v int64) int64 {
	if v == 0 {
		return -1
	}
	return v
}
