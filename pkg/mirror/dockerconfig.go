package mirror

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/djok/modelfetch/internal/fsutil"
)

// Bounds on what a Docker config and its helpers may hand us.
const (
	// maxConfigSize bounds the config.json read (docker's own are a few KiB).
	maxConfigSize = 4 << 20
	// maxSecret bounds a credential as a whole: the Authorization header it
	// becomes (user name and password together, base64-encoded), and each
	// token.
	maxSecret = 16 << 10
	// maxHelperOutput bounds what a credential helper may print.
	maxHelperOutput = 64 << 10
)

// dockerConfig is what modelfetch reads of a Docker config.json: the auths
// (each entry decoded only when its registry is asked for, so a broken one
// fails only its own registry), credHelpers and credsStore.
type dockerConfig struct {
	Auths       map[string]json.RawMessage `json:"auths"`
	CredsStore  string                     `json:"credsStore"`
	CredHelpers map[string]string          `json:"credHelpers"`
}

// authEntry is one auths entry, as docker writes it.
type authEntry struct {
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
	Username      string `json:"username"`
	Password      string `json:"password"`
}

// loadDockerConfig reads path in one bounded, non-blocking open. A missing
// file is an empty config.
func loadDockerConfig(path string) (*dockerConfig, error) {
	b, err := fsutil.ReadRegularFile(path, maxConfigSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &dockerConfig{}, nil
	case errors.Is(err, fsutil.ErrNotRegular):
		return nil, configError(path, "not a regular file")
	case errors.Is(err, fsutil.ErrTooLarge):
		return nil, configError(path, fmt.Sprintf("larger than %d MiB", maxConfigSize>>20))
	case err != nil:
		return nil, &credentialError{fmt.Errorf("docker config %s: %w", path, fsutil.PathCause(err))}
	}
	c := &dockerConfig{}
	if len(bytes.TrimSpace(b)) == 0 {
		return c, nil // docker treats an empty file as no config
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, configError(path, "not a valid config.json")
	}
	return c, nil
}

func configError(path, msg string) error {
	return &credentialError{fmt.Errorf("docker config %s: %s", path, msg)}
}

// serverAddress is the key docker files a registry's credential under:
// Docker Hub's is its v1 index URL.
func serverAddress(host string) string {
	if host == "registry-1.docker.io" || host == "docker.io" {
		return "https://index.docker.io/v1/"
	}
	return host
}

// helperFor names the helper that holds addr's credential: its
// credHelpers entry, else credsStore; "" for none.
func (c *dockerConfig) helperFor(addr string) string {
	if h := c.CredHelpers[addr]; h != "" {
		return h
	}
	return c.CredsStore
}

// authFor is addr's credential from the auths: the entry under addr, else
// one whose key names addr with a scheme or path (legacy configs).
func (c *dockerConfig) authFor(path, addr string) (auth.Credential, error) {
	raw, ok := c.Auths[addr]
	if !ok {
		keys := make([]string, 0, len(c.Auths))
		for k := range c.Auths {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if hostOf(k) == hostOf(addr) {
				raw, ok = c.Auths[k], true
				break
			}
		}
	}
	if !ok {
		return auth.EmptyCredential, nil
	}
	var e authEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return auth.EmptyCredential, configError(path, "the auth entry for "+addr+" is not an object of strings")
	}
	cred := auth.Credential{Username: e.Username, Password: e.Password, RefreshToken: e.IdentityToken, AccessToken: e.RegistryToken}
	tooLarge := configError(path, fmt.Sprintf("the auth entry for %s makes a credential longer than %d KiB", addr, maxSecret>>10))
	if len(e.Auth) > base64.StdEncoding.EncodedLen(2*maxSecret+1) {
		return auth.EmptyCredential, tooLarge
	}
	if e.Auth != "" {
		b, err := base64.StdEncoding.DecodeString(e.Auth)
		user, pass, colon := strings.Cut(string(b), ":")
		if err != nil || !colon {
			return auth.EmptyCredential, configError(path, "the auth entry for "+addr+" is not base64 of user:password")
		}
		cred.Username, cred.Password = user, pass
	}
	if tooLong(cred) {
		return auth.EmptyCredential, tooLarge
	}
	return cred, nil
}

// hostOf is an auths key without its scheme and path.
func hostOf(addr string) string {
	addr = strings.TrimPrefix(addr, "http://")
	addr = strings.TrimPrefix(addr, "https://")
	addr, _, _ = strings.Cut(addr, "/")
	return addr
}

// tooLong reports whether c is over maxSecret: the basic Authorization
// header of its user name and password, or one of its tokens (the access
// token goes as "Bearer TOKEN", the refresh token in a form body).
func tooLong(c auth.Credential) bool {
	basic := 0
	if c.Username != "" || c.Password != "" {
		basic = len("Basic ") + base64.StdEncoding.EncodedLen(len(c.Username)+1+len(c.Password))
	}
	return basic > maxSecret || len(c.RefreshToken) > maxSecret || len("Bearer ")+len(c.AccessToken) > maxSecret
}
