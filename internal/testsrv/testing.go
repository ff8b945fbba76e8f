package testsrv

import (
	"testing"

	"github.com/djok/modelfetch/internal/testutil"
)

// NewTestRegistry starts a registry in a temporary folder of t and stops it
// when t ends. Without docker-registry (or htpasswd, when o has users) the
// test is skipped, except under CI=true, where it fails: CI installs them.
func NewTestRegistry(t testing.TB, o RegistryOptions) *Registry {
	t.Helper()
	missing := ""
	switch {
	case RegistryBinary() == "":
		missing = "docker-registry is not installed (apt-get install docker-registry)"
	case len(o.Users) > 0 && HtpasswdBinary() == "":
		missing = "htpasswd is not installed (apt-get install apache2-utils)"
	}
	if missing != "" {
		testutil.Missing(t, missing)
	}
	r, err := StartRegistry(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}
