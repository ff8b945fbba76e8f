package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/djok/modelfetch/internal/testsrv"
	"github.com/djok/modelfetch/internal/testutil"
)

// The registry mirror journey (registry.txtar) runs against Debian's real
// docker-registry (distribution 2.8), started on loopback by these commands
// and stopped by its PID when the script ends.

// registryInstalled is the [registry] condition: without docker-registry and
// htpasswd a script that needs them is skipped, except under CI=true, where
// it fails: CI installs them.
func registryInstalled() (bool, error) {
	if testsrv.RegistryBinary() != "" && testsrv.HtpasswdBinary() != "" {
		return true, nil
	}
	return false, testutil.MissingErr("docker-registry or htpasswd is not installed (apt-get install docker-registry apache2-utils): the registry journey needs them")
}

// registry NAME [USER:PASSWORD] starts a registry (with htpasswd basic auth
// for USER when given) with its storage in $WORK/NAME, and sets $NAME to its
// 127.0.0.1:PORT.
func cmdRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: registry NAME [USER:PASSWORD]")
	}
	var o testsrv.RegistryOptions
	if len(args) == 2 {
		user, pass, ok := strings.Cut(args[1], ":")
		if !ok {
			ts.Fatalf("usage: registry NAME [USER:PASSWORD]")
		}
		o.Users = map[string]string{user: pass}
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	r, err := testsrv.StartRegistry(dir, o)
	ts.Check(err)
	ts.Defer(r.Stop)
	registries.Store(ts.MkAbs(args[0]), r)
	ts.Setenv(args[0], r.Addr)
}

// registryblob VAR NAME HEX sets VAR to the file registry NAME stores the
// blob sha256:HEX in, so a script can corrupt it.
func cmdRegistryBlob(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: registryblob VAR NAME HEX")
	}
	v, ok := registries.Load(ts.MkAbs(args[1]))
	if !ok {
		ts.Fatalf("no registry %s (start it with: registry %s)", args[1], args[1])
	}
	ts.Setenv(args[0], v.(*testsrv.Registry).BlobPath(args[2]))
}

var registries sync.Map // storage folder -> *testsrv.Registry

// faultfront VAR NAME POSTS PUTS sets VAR to the 127.0.0.1:PORT of a proxy
// in front of registry NAME that fails blob uploads: the first POSTS
// upload starts get 503 (Retry-After: 0), the first PUTS uploads of bytes
// are cut (TCP reset) part way through their body.
func cmdFaultFront(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: faultfront VAR NAME POSTS PUTS")
	}
	v, ok := registries.Load(ts.MkAbs(args[1]))
	if !ok {
		ts.Fatalf("no registry %s (start it with: registry %s)", args[1], args[1])
	}
	posts, err := strconv.Atoi(args[2])
	ts.Check(err)
	puts, err := strconv.Atoi(args[3])
	ts.Check(err)
	target := &url.URL{Scheme: "http", Host: v.(*testsrv.Registry).Addr}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upload := strings.Contains(r.URL.Path, "/blobs/uploads/")
		mu.Lock()
		post := upload && r.Method == http.MethodPost && posts > 0
		put := upload && r.Method == http.MethodPut && puts > 0
		if post {
			posts--
		}
		if put {
			puts--
		}
		mu.Unlock()
		switch {
		case post:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case put:
			_, _ = io.CopyN(io.Discard, r.Body, 16<<10)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				conn.Close()
			}
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], strings.TrimPrefix(srv.URL, "http://"))
}
