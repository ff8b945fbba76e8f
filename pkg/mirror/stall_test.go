//go:build unix

package mirror_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/digest"
	"github.com/djok/modelfetch/pkg/fetch"
	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/mirror"
)

// recorder keeps the fetch's retry and failure lines.
type recorder struct {
	mu     sync.Mutex
	lines  []string
	failed []string
}

func (r *recorder) Start(string, int64)    {}
func (r *recorder) Progress(string, int64) {}
func (r *recorder) Done(fetch.Result)      {}
func (r *recorder) Retry(_ string, err *fetch.SourceError, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, "retry "+err.Error())
}

func (r *recorder) SourceFailed(_ string, err *fetch.SourceError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, "failed "+err.Error())
	r.failed = append(r.failed, err.Error())
}

// A registry whose credential helper hangs, with an idle timeout shorter
// than the helper's deadline (issue 26): the wait for the helper is not a
// stalled connection. The registry is given up once, when the helper's
// deadline passes, with the helper named; the origin serves.
func TestCredentialHelperDeadlineIsNotAStall(t *testing.T) {
	data := bytes.Repeat([]byte("model bytes "), 2000)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(data) }))
	t.Cleanup(origin.Close)
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-credential-slow"), []byte("#!/bin/sh\nsleep 60 & sleep 60\n"), 0o755))
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	config := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(config, []byte(`{"credHelpers":{"`+host+`":"slow"}}`), 0o600))

	const idle, deadline = 300 * time.Millisecond, 1500 * time.Millisecond
	ms, err := mirror.ParseList("oci+http://" + host + "/team/models")
	require.NoError(t, err)
	client := fetch.NewClient(nil, nil, idle)
	client.Transport = mirror.Transport(client.Transport, ms, mirror.DockerCredentialsWithin(config, deadline))
	obs := &recorder{}
	f := fetch.New(fetch.Options{Retries: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		IdleTimeout: idle, Client: client, Mirrors: ms, Observer: obs})

	src, err := manifest.Parse("t.toml", "/", []byte("version = 1\n[models.x]\npath = \"x\"\nurls = [\""+origin.URL+"/m.bin\"]\n"))
	require.NoError(t, err)
	m := &manifest.Model{Name: "m", Path: "m.bin", SHA256: digest.Of(data), Size: int64(len(data)), Sources: src.Models[0].Sources}
	start := time.Now()
	res := f.Install(context.Background(), []fetch.Target{{Model: m, Root: t.TempDir(), FileMode: 0o644, DirMode: 0o755}})
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err)
	assert.Equal(t, origin.URL+"/m.bin", res[0].Source)
	assert.GreaterOrEqual(t, time.Since(start), deadline, "the helper was given its deadline")

	obs.mu.Lock()
	defer obs.mu.Unlock()
	t.Log(strings.Join(obs.lines, "\n"))
	require.Len(t, obs.failed, 1)
	assert.Contains(t, obs.failed[0], "credential helper docker-credential-slow: no answer in 1.5s")
	for _, l := range obs.lines {
		assert.NotContains(t, l, "stalled", "waiting for the helper is not a stall")
	}
}
