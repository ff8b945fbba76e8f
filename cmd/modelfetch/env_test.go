package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCacheDirPrecedence: --cache, then MODELFETCH_CACHE, then
// XDG_CACHE_HOME, then ~/.cache, then the temp dir.
func TestCacheDirPrecedence(t *testing.T) {
	all := env{Cache: "/env", XDGCache: "/xdg", Home: "/home/u"}
	for _, tc := range []struct {
		name string
		flag string
		env  env
		want string
	}{
		{"the flag first", "/flag", all, "/flag"},
		{"then MODELFETCH_CACHE", "", all, "/env"},
		{"then XDG_CACHE_HOME", "", env{XDGCache: "/xdg", Home: "/home/u"}, filepath.Join("/xdg", "modelfetch")},
		{"then the home folder", "", env{Home: "/home/u"}, filepath.Join("/home/u", ".cache", "modelfetch")},
		{"then the temp dir", "", env{}, filepath.Join(os.TempDir(), "modelfetch-cache")},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, tc.env.cacheDir(tc.flag)) })
	}
}

// TestNoCacheKeepsTheFolder: --no-cache gives no cache to read or fill,
// and moves nothing (lock's manifest writes still serialise there).
func TestNoCacheKeepsTheFolder(t *testing.T) {
	e := env{Cache: "/env"}
	o := &netOptions{cacheDir: "/flag"}
	c := o.cache(e)
	require.NotNil(t, c)
	assert.Equal(t, "/flag", c.Dir())
	o.noCache, o.cacheDir = true, ""
	assert.Nil(t, o.cache(e))
	assert.Equal(t, "/env", e.cacheDir(o.cacheDir))
}
