package main

import (
	"os"
	"path/filepath"

	"github.com/djok/modelfetch/internal/display"
)

// env is everything modelfetch reads from its environment, read in one place.
type env struct {
	Cache, XDGCache, Home string
	Manifest              string
	Netrc                 string
	HFToken               string
	HFEndpoint            string // HF_ENDPOINT
	HFHubOffline          string // HF_HUB_OFFLINE
	NetrcDefault          string // MODELFETCH_NETRC_DEFAULT
	URLRules              string // MODELFETCH_URL_RULES
	Mirrors               string // MODELFETCH_MIRRORS
	DockerConfig          string // DOCKER_CONFIG: the folder of config.json
	// Getenv reads the variables the url rules name (token_env).
	Getenv     func(string) string
	IsRoot     bool
	IsTerminal func() bool
}

func envFromOS() env {
	home, _ := os.UserHomeDir()
	return env{
		Cache:        os.Getenv("MODELFETCH_CACHE"),
		XDGCache:     os.Getenv("XDG_CACHE_HOME"),
		Home:         home,
		Manifest:     os.Getenv("MODELFETCH_MANIFEST"),
		Netrc:        os.Getenv("NETRC"),
		HFToken:      os.Getenv("HF_TOKEN"),
		HFEndpoint:   os.Getenv("HF_ENDPOINT"),
		HFHubOffline: os.Getenv("HF_HUB_OFFLINE"),
		NetrcDefault: os.Getenv("MODELFETCH_NETRC_DEFAULT"),
		URLRules:     os.Getenv("MODELFETCH_URL_RULES"),
		Mirrors:      os.Getenv("MODELFETCH_MIRRORS"),
		DockerConfig: os.Getenv("DOCKER_CONFIG"),
		Getenv:       os.Getenv,
		IsRoot:       os.Geteuid() == 0,
		IsTerminal:   func() bool { return display.IsTerminal(os.Stderr) },
	}
}

// cacheDir is the one answer to where the cache folder is: flag (--cache)
// when given, else MODELFETCH_CACHE, else $XDG_CACHE_HOME/modelfetch, else
// ~/.cache/modelfetch, else a folder in the temp dir. --no-cache does not
// move it: it stops blobs being read or stored (netOptions.cache), while
// lock still serialises its manifest writes there.
func (e env) cacheDir(flag string) string {
	switch {
	case flag != "":
		return flag
	case e.Cache != "":
		return e.Cache
	case e.XDGCache != "":
		return filepath.Join(e.XDGCache, "modelfetch")
	case e.Home != "":
		return filepath.Join(e.Home, ".cache", "modelfetch")
	}
	return filepath.Join(os.TempDir(), "modelfetch-cache")
}

func (e env) netrcPath() string {
	if e.Netrc != "" {
		return e.Netrc
	}
	if e.Home == "" {
		return ""
	}
	return filepath.Join(e.Home, ".netrc")
}

// netrcDefaultAnyHost reads MODELFETCH_NETRC_DEFAULT: "manifest" (or unset)
// sends the netrc default entry only to the hosts the manifest names, "any"
// to every https host.
func (e env) netrcDefaultAnyHost() (bool, error) {
	switch e.NetrcDefault {
	case "", "manifest":
		return false, nil
	case "any":
		return true, nil
	}
	return false, usagef("MODELFETCH_NETRC_DEFAULT=%q: want manifest or any", e.NetrcDefault)
}

// dockerConfig is the Docker config file registry credentials come from:
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json (as docker reads it);
// "" with neither (no credentials).
func (e env) dockerConfig() string {
	if e.DockerConfig != "" {
		return filepath.Join(e.DockerConfig, "config.json")
	}
	if e.Home == "" {
		return ""
	}
	return filepath.Join(e.Home, ".docker", "config.json")
}

// defaultManifest is MODELFETCH_MANIFEST, else models.toml.
func (e env) defaultManifest() string {
	if e.Manifest != "" {
		return e.Manifest
	}
	return "models.toml"
}
