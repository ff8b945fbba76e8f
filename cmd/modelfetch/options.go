package main

// Flags shared between commands, each declared once.

import (
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/djok/modelfetch/internal/credentials"
	"github.com/djok/modelfetch/pkg/cache"
	"github.com/djok/modelfetch/pkg/fetch"
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
}

// addFlags declares the network flags, except those named in skip (a
// command where one means nothing).
func (o *netOptions) addFlags(fs *pflag.FlagSet, skip ...string) {
	all := pflag.NewFlagSet("network", pflag.ContinueOnError)
	all.IntVar(&o.jobs, "jobs", 4, "artifacts fetched at once")
	all.IntVar(&o.connections, "connections", 8, "connections per large file, when its server allows ranges")
	all.IntVar(&o.retries, "retries", 5, "retries of a transient fault per source")
	all.DurationVar(&o.idle, "idle-timeout", 30*time.Second, "a connection silent this long is stalled")
	all.Int64Var(&o.speedLimit, "speed-limit", 1024, "a connection slower than this many `BYTES` per second over --speed-time gives its source up (0: never)")
	all.DurationVar(&o.speedTime, "speed-time", time.Minute, "the window --speed-limit is measured over")
	all.StringVar(&o.cacheDir, "cache", "", "cache folder (env MODELFETCH_CACHE; default ~/.cache/modelfetch)")
	all.BoolVar(&o.noCache, "no-cache", false, "neither read nor fill the cache")
	all.BoolVar(&o.offline, "offline", false, "use only the cache; never touch the network")
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
	_, err := env.netrcDefaultAnyHost()
	return err
}

func (o *netOptions) cache(env env) *cache.Cache {
	if o.noCache {
		return nil
	}
	c := cache.New(env.cacheDir())
	if o.cacheDir != "" {
		c = cache.New(o.cacheDir)
	}
	c.NoLock = o.noLock
	return c
}

// fetcher builds the engine for the models of site (whose hosts may receive
// the netrc default entry, and the url rules' credentials).
func (o *netOptions) fetcher(env env, site *sitePlan, obs fetch.Observer) *fetch.Fetcher {
	policy := credentialPolicy(env, site.hosts())
	policy.Rules = site.creds
	return fetch.New(fetch.Options{
		Jobs:        o.jobs,
		Connections: o.connections,
		Retries:     o.retries,
		IdleTimeout: o.idle,
		MinSpeed:    speedOption(o.speedLimit),
		SpeedWindow: o.speedTime,
		Cache:       o.cache(env),
		Offline:     o.offline,
		Client:      fetch.NewClient(http.ProxyFromEnvironment, policy.Func(), o.idle),
		Observer:    obs,
	})
}

// credentialPolicy gathers what the credential policy needs: ~/.netrc (or
// $NETRC), HF_TOKEN, MODELFETCH_NETRC_DEFAULT and the hosts the sources name.
func credentialPolicy(env env, hosts []string) credentials.Policy {
	p := credentials.Policy{HFToken: env.HFToken, Hosts: hosts}
	p.DefaultAnyHost, _ = env.netrcDefaultAnyHost() // validated with the flags
	if path := env.netrcPath(); path != "" {
		if b, err := os.ReadFile(path); err == nil {
			p.Netrc = string(b)
		}
	}
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

func (o *outputOptions) mode(env env) (progressMode, error) {
	mode := progressNone
	switch o.progress {
	case "auto":
		mode = progressPlain
		if env.IsTerminal != nil && env.IsTerminal() {
			mode = progressBar
		}
	case "bar":
		mode = progressBar
	case "plain":
		mode = progressPlain
	case "none":
	default:
		return 0, usagef("--progress %q: want auto, bar, plain or none", o.progress)
	}
	if o.quiet {
		return progressNone, nil
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
