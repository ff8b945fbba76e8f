package main

import (
	"os"
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
