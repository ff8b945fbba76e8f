//go:build unix

package mirror

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A FIFO swapped in for config.json, again and again while credentials are
// read (issue 26): every lookup ends at once, with the credential (the file
// was read) or the config refused; none blocks.
func TestDockerConfigFIFOSwap(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	regular := filepath.Join(dir, "regular.json")
	fifo := filepath.Join(dir, "fifo")
	auths := base64.StdEncoding.EncodeToString([]byte("builder:s3cret"))
	require.NoError(t, os.WriteFile(regular, []byte(`{"auths":{"reg.example":{"auth":"`+auths+`"}}}`), 0o600))
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))

	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			src := regular
			if i%2 == 1 {
				src = fifo
			}
			_ = os.Remove(path)
			_ = os.Link(src, path)
			runtime.Gosched()
		}
	}()
	defer func() { close(stop); <-swapped }()

	var got, refused int
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; (got < 300 || refused < 300) && time.Now().Before(deadline); i++ {
		done := make(chan error, 1)
		go func() {
			c, err := DockerCredentials(path)(context.Background(), "reg.example")
			if err == nil && c.Password != "s3cret" && c.Password != "" {
				err = fmt.Errorf("credential %+v", c)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				got++
			} else {
				refused++
				assert.NotContains(t, err.Error(), "\n")
				assert.Contains(t, err.Error(), "docker config "+path)
			}
		case <-time.After(time.Second):
			t.Fatalf("lookup %d still blocked after 1s (a FIFO swapped in)", i)
		}
	}
	t.Logf("%d read, %d refused", got, refused)
	assert.Positive(t, got, "the swap loop gave the regular file its turns")
	assert.Positive(t, refused, "the swap loop gave the FIFO its turns")
}

// helperScript installs docker-credential-NAME running body, on PATH.
func helperScript(t *testing.T, name, body string) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return dir
}

// A helper's answer is bounded: output over 64 KiB, a secret over 16 KiB
// and an auth entry over 16 KiB fail that registry with a line naming the
// helper or the entry, and never send the value.
func TestCredentialValuesBounded(t *testing.T) {
	big := strings.Repeat("x", 20<<10)
	half := strings.Repeat("y", 16000)
	for name, tc := range map[string]struct{ helper, config, want string }{
		"flood": {helper: "head -c 100000000 /dev/zero",
			want: "credential helper docker-credential-flood: its answer is larger than 64 KiB"},
		"secret": {helper: `printf '{"Username":"u","Secret":"` + big + `"}'`,
			want: "credential helper docker-credential-secret: its answer makes a credential longer than 16 KiB"},
		"auth": {config: `{"auths":{"reg.example":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("u:"+big)) + `"}}}`,
			want: "the auth entry for reg.example makes a credential longer than 16 KiB"},
		"huge auth": {config: `{"auths":{"reg.example":{"auth":"` + strings.Repeat("QUFB", 750_000) + `"}}}`,
			want: "the auth entry for reg.example makes a credential longer than 16 KiB"},
		"password": {config: `{"auths":{"reg.example":{"username":"u","password":"` + big + `"}}}`,
			want: "the auth entry for reg.example makes a credential longer than 16 KiB"},
		// Each value under 16 KiB, the header they make together over it
		// (found by the attack run: a 42.7 KB Authorization header).
		"halves": {helper: `printf '{"Username":"` + half + `","Secret":"` + half + `"}'`,
			want: "credential helper docker-credential-halves: its answer makes a credential longer than 16 KiB"},
		"auths halves": {config: `{"auths":{"reg.example":{"username":"` + half + `","password":"` + half + `"}}}`,
			want: "the auth entry for reg.example makes a credential longer than 16 KiB"},
		"auth halves": {config: `{"auths":{"reg.example":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(half+":"+half)) + `"}}}`,
			want: "the auth entry for reg.example makes a credential longer than 16 KiB"},
	} {
		t.Run(name, func(t *testing.T) {
			config := tc.config
			if tc.helper != "" {
				helperScript(t, name, tc.helper)
				config = `{"credHelpers":{"reg.example":"` + name + `"}}`
			}
			c, err := DockerCredentials(writeConfig(t, t.TempDir(), config))(context.Background(), "reg.example")
			require.Error(t, err)
			t.Log(err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, c.Password)
			assert.Less(t, len(err.Error()), 300)
			var p interface{ Permanent() bool }
			assert.ErrorAs(t, err, &p)
		})
	}
}

// alive reports whether pid is a live process (a zombie is not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func helperPIDs(t *testing.T, file string) []int {
	var pids []int
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(file)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			require.NoError(t, err)
			pids = append(pids, n)
		}
		return len(pids) == 2
	}, 5*time.Second, 10*time.Millisecond)
	return pids
}

func assertAllGone(t *testing.T, pids []int) {
	for _, pid := range pids {
		assert.Eventually(t, func() bool { return !alive(pid) }, 2*time.Second, 20*time.Millisecond, "pid %d survives", pid)
	}
}

// A helper that forks and hangs: at its deadline its whole process group is
// killed, children included, and the error names the helper's deadline.
func TestCredentialHelperGroupKilledAtDeadline(t *testing.T) {
	dir := helperScript(t, "fork", `sleep 60 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; sleep 60`)
	t.Setenv("PIDS", filepath.Join(dir, "pids"))
	cred := dockerCredentials(writeConfig(t, dir, `{"credsStore":"fork"}`), 500*time.Millisecond)
	start := time.Now()
	_, err := cred(context.Background(), "reg.example")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "credential helper docker-credential-fork: no answer in 500ms")
	assert.Less(t, time.Since(start), 3*time.Second)
	assertAllGone(t, helperPIDs(t, filepath.Join(dir, "pids")))
}

// The run interrupted while a helper is pending (SIGINT, SIGTERM cancel the
// run's requests): the lookup ends at once and the helper's group is
// killed, well before its deadline.
func TestCredentialHelperKilledWhenTheRunEnds(t *testing.T) {
	dir := helperScript(t, "hang", `sleep 60 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; sleep 60`)
	t.Setenv("PIDS", filepath.Join(dir, "pids"))
	cred := dockerCredentials(writeConfig(t, dir, `{"credsStore":"hang"}`), time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := cred(ctx, "reg.example"); errs <- err }()
	}
	pids := helperPIDs(t, filepath.Join(dir, "pids"))
	start := time.Now()
	cancel()
	for range 2 {
		assert.ErrorIs(t, <-errs, context.Canceled)
	}
	assert.Less(t, time.Since(start), time.Second)
	assertAllGone(t, pids)

	// The helper is asked again by a later request, not remembered as
	// cancelled.
	helperScript(t, "hang", `printf '{"Username":"u","Secret":"p"}'`)
	c, err := cred(context.Background(), "reg.example")
	require.NoError(t, err)
	assert.Equal(t, "p", c.Password)
}
