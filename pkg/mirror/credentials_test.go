package mirror

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/registry/remote/auth"
)

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func TestDockerCredentials(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	auths := base64.StdEncoding.EncodeToString([]byte("builder:s3cret"))
	cred := DockerCredentials(writeConfig(t, dir, `{"auths":{"reg.example:5000":{"auth":"`+auths+`"}}}`))
	c, err := cred(ctx, "reg.example:5000")
	require.NoError(t, err)
	assert.Equal(t, auth.Credential{Username: "builder", Password: "s3cret"}, c)
	c, err = cred(ctx, "other.example")
	require.NoError(t, err)
	assert.Equal(t, auth.EmptyCredential, c)

	// No file: no credentials, no error.
	c, err = DockerCredentials(filepath.Join(dir, "none", "config.json"))(ctx, "reg.example:5000")
	require.NoError(t, err)
	assert.Equal(t, auth.EmptyCredential, c)
}

// A config that cannot be used fails each lookup with one line naming the
// file, never what is in it, and never blocks.
func TestDockerCredentialsThatCannotBeUsed(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	token := "ghp_SuperSecretTokenNoColon"
	for name, path := range map[string]string{
		"fifo":      fifo,
		"folder":    dir,
		"not json":  writeConfig(t, t.TempDir(), `{"auths": nope `+token),
		"bare auth": writeConfig(t, t.TempDir(), `{"auths":{"reg.example":{"auth":"`+base64.StdEncoding.EncodeToString([]byte(token))+`"}}}`),
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := DockerCredentials(path)(context.Background(), "reg.example")
			require.Error(t, err, name)
			assert.Less(t, time.Since(start), 5*time.Second)
			assert.Contains(t, err.Error(), "docker config "+path)
			assert.NotContains(t, err.Error(), token)
			assert.NotContains(t, err.Error(), "\n")
			var p interface{ Permanent() bool }
			assert.ErrorAs(t, err, &p)
		})
	}
}

// A credential helper is run once per registry, and one that does not
// answer is given up after the timeout, for every request waiting on it.
func TestCredentialHelperTimeoutAndOneCall(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	helper := "#!/bin/sh\necho call >> " + calls + "\nread -r server\ncase $server in\n  slow.example) sleep 3 ;;\n  *) printf '{\"Username\":\"u\",\"Secret\":\"p\"}\\n' ;;\nesac\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-credential-test"), []byte(helper), 0o755))
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	cred := DockerCredentials(writeConfig(t, dir, `{"credHelpers":{"fast.example":"test","slow.example":"test"}}`))

	for range 3 {
		c, err := cred(context.Background(), "fast.example")
		require.NoError(t, err)
		assert.Equal(t, "p", c.Password)
	}
	b, err := os.ReadFile(calls)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(b), "call"), "one helper run per registry")

	cred = dockerCredentials(writeConfig(t, dir, `{"credHelpers":{"fast.example":"test","slow.example":"test"}}`), 300*time.Millisecond)
	start := time.Now()
	_, err = cred(context.Background(), "slow.example")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "credential helper docker-credential-test: no answer in 300ms")
	assert.Less(t, time.Since(start), 10*time.Second)
	_, err = cred(context.Background(), "slow.example")
	require.Error(t, err, "the failure is remembered: no second wait")
}
