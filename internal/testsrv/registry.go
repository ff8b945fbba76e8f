// Package testsrv starts real servers on loopback for tests: Debian's
// docker-registry (distribution 2.8), run as a child process with its storage
// in a folder the test owns, so a test can read, delete or corrupt what the
// registry stores.
//
// The core functions take no testing.TB, so testscript commands can use them
// as well as Go tests; NewTestRegistry (testing.go) is the Go-test wrapper.
package testsrv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RegistryOptions configures StartRegistry. The zero value is an anonymous
// registry over plain HTTP.
type RegistryOptions struct {
	// Users, when not empty, turns on htpasswd basic auth with these
	// user → password pairs (the htpasswd file is made with apache2-utils'
	// htpasswd, bcrypt, the only hash distribution accepts).
	Users map[string]string
}

// Registry is a running docker-registry.
type Registry struct {
	// Addr is the registry's 127.0.0.1:PORT.
	Addr string
	// Root is the storage folder (the filesystem driver's rootdirectory).
	Root string
	// LogPath is the file the registry's stdout and stderr go to.
	LogPath string

	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has been waited for
	err  error         // Wait's result, set before done is closed
}

// RegistryBinary is the path of docker-registry, or "" when it is not
// installed (apt-get install docker-registry).
func RegistryBinary() string {
	if p, err := exec.LookPath("docker-registry"); err == nil {
		return p
	}
	if fi, err := os.Stat("/usr/bin/docker-registry"); err == nil && fi.Mode().IsRegular() {
		return "/usr/bin/docker-registry"
	}
	return ""
}

// HtpasswdBinary is apache2-utils' htpasswd, or "".
func HtpasswdBinary() string {
	if p, err := exec.LookPath("htpasswd"); err == nil {
		return p
	}
	if fi, err := os.Stat("/usr/bin/htpasswd"); err == nil && fi.Mode().IsRegular() {
		return "/usr/bin/htpasswd"
	}
	return ""
}

// StartRegistry runs `docker-registry serve` on a free loopback port with
// everything it writes under dir (config.yml, htpasswd, storage/,
// registry.log), and returns once /v2/ answers. The caller must Stop it.
func StartRegistry(dir string, o RegistryOptions) (*Registry, error) {
	bin := RegistryBinary()
	if bin == "" {
		return nil, errors.New("docker-registry is not installed (apt-get install docker-registry)")
	}
	root := filepath.Join(dir, "storage")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("registry storage: %w", err)
	}
	var htpasswd string
	if len(o.Users) > 0 {
		htpasswd = filepath.Join(dir, "htpasswd")
		if err := writeHtpasswd(htpasswd, o.Users); err != nil {
			return nil, err
		}
	}
	// A port free a moment ago can be taken before the registry binds it:
	// try a few.
	var last error
	for range 3 {
		r, err := startOnce(bin, dir, root, htpasswd)
		if err == nil {
			return r, nil
		}
		last = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	return nil, last
}

var errAddrInUse = errors.New("address already in use")

func startOnce(bin, dir, root, htpasswd string) (*Registry, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + port
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, []byte(registryConfig(addr, root, htpasswd)), 0o644); err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	logPath := filepath.Join(dir, "registry.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("registry log: %w", err)
	}
	cmd := exec.Command(bin, "serve", config)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	// Only what the registry needs: no REGISTRY_* from the caller's
	// environment may override the config.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start docker-registry: %w", err)
	}
	r := &Registry{Addr: addr, Root: root, LogPath: logPath, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	if err := r.waitReady(15 * time.Second); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

// registryConfig is a minimal distribution 2.8 configuration: filesystem
// storage, deletes allowed (tests remove blobs), no upload purging, text
// logs, and htpasswd auth when a file is given.
func registryConfig(addr, root, htpasswd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: modelfetch-test-secret
`, strconv.Quote(root), addr)
	if htpasswd != "" {
		fmt.Fprintf(&b, `auth:
  htpasswd:
    realm: modelfetch-test
    path: %s
`, strconv.Quote(htpasswd))
	}
	return b.String()
}

// writeHtpasswd makes a bcrypt htpasswd file; passwords go to htpasswd on
// its stdin, never on a command line.
func writeHtpasswd(path string, users map[string]string) error {
	bin := HtpasswdBinary()
	if bin == "" {
		return errors.New("htpasswd is not installed (apt-get install apache2-utils)")
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	var file []byte
	for _, u := range names {
		cmd := exec.Command(bin, "-iBn", u)
		cmd.Stdin = strings.NewReader(users[u])
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("htpasswd for user %q: %w", u, err)
		}
		file = append(file, strings.TrimSpace(string(out))+"\n"...)
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		return fmt.Errorf("htpasswd file: %w", err)
	}
	return nil
}

// waitReady polls /v2/ until it answers (200, or 401 with auth on).
func (r *Registry) waitReady(limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-r.done:
			tail := r.logTail()
			if strings.Contains(tail, "address already in use") {
				return fmt.Errorf("docker-registry on %s: %w", r.Addr, errAddrInUse)
			}
			return fmt.Errorf("docker-registry on %s exited (%v): %s", r.Addr, r.err, tail)
		default:
		}
		resp, err := client.Get("http://" + r.Addr + "/v2/")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
			return nil
		}
	}
	return fmt.Errorf("docker-registry on %s did not answer /v2/ within %s: %s", r.Addr, limit, r.logTail())
}

// logTail is the end of the registry's log on one line, for error messages.
func (r *Registry) logTail() string {
	b, _ := os.ReadFile(r.LogPath)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// BlobPath is the file in which the registry stores the blob whose sha256 is
// hexDigest (64 hex digits), so a test can delete or corrupt it.
func (r *Registry) BlobPath(hexDigest string) string {
	prefix := hexDigest
	if len(prefix) > 2 {
		prefix = prefix[:2]
	}
	return filepath.Join(r.Root, "docker", "registry", "v2", "blobs", "sha256", prefix, hexDigest, "data")
}

// Stop ends the registry (SIGTERM, then SIGKILL after 5s) and waits for it.
// It may be called more than once.
func (r *Registry) Stop() {
	select {
	case <-r.done:
	default:
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	}
	r.log.Close()
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free loopback port: %w", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
