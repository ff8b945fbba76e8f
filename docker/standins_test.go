package docker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/manifest"
)

// standIns serves small stand-ins for the artifacts of the real models.toml
// on loopback (dlib's bzip2'd, as upstream serves it), counts requests, and
// writes manifests with the real names, roots, paths, owner and modes.
type standIns struct {
	real      *manifest.Manifest
	srv       *httptest.Server
	requests  atomic.Int32
	mu        sync.Mutex
	served    map[string][]byte // URL path -> bytes as served
	installed map[string][]byte // model name -> installed bytes
}

func newStandIns(t *testing.T, seed int) *standIns {
	t.Helper()
	real, err := manifest.Load("../models.toml")
	require.NoError(t, err)
	s := &standIns{real: real, served: map[string][]byte{}, installed: map[string][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		b, ok := s.served[strings.TrimPrefix(r.URL.Path, "/")]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, r.URL.Path, time.Unix(0, 0), bytes.NewReader(b))
	}))
	t.Cleanup(s.srv.Close)
	for i, mod := range real.Models {
		s.set(t, mod, standIn(seed+i, isDlib(mod)), false)
	}
	return s
}

func isDlib(mod *manifest.Model) bool { return strings.HasPrefix(mod.Name, "dlib") }

func path(mod *manifest.Model) string {
	if isDlib(mod) {
		return mod.Name + ".bz2"
	}
	return mod.Name
}

// set makes data the installed bytes of mod; corrupt serves them with one
// byte flipped.
func (s *standIns) set(t *testing.T, mod *manifest.Model, data []byte, corrupt bool) {
	t.Helper()
	served := data
	if corrupt {
		served = append([]byte{}, data...)
		served[len(served)/2] ^= 1
	}
	if isDlib(mod) {
		served = bzip2(t, served)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.installed[mod.Name] = data
	s.served[path(mod)] = served
}

// manifest returns a models.toml for the stand-ins.
func (s *standIns) manifest() string {
	r := s.real
	var m strings.Builder
	fmt.Fprintf(&m, "version = 1\n[defaults]\nowner = %q\nfile_mode = \"%04o\"\ndir_mode = \"%04o\"\n[dirs]\nmodels = %q\nu2net = %q\n",
		r.Defaults.Owner.String(), r.Defaults.FileMode, r.Defaults.DirMode, r.Dirs["models"], r.Dirs["u2net"])
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, mod := range r.Models {
		data := s.installed[mod.Name]
		sum := sha256.Sum256(data)
		fmt.Fprintf(&m, "[models.%s]\ndir = %q\npath = %q\nsha256 = %q\nsize = %d\nurls = [%q]\n",
			mod.Name, mod.Dir, mod.Path, hex.EncodeToString(sum[:]), len(data), s.srv.URL+"/"+path(mod))
	}
	return m.String()
}

// standIn returns deterministic bytes: text-like (compressible) or random.
func standIn(i int, text bool) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	b := make([]byte, 50_000+(i%50)*1000)
	for j := range b {
		if text {
			b[j] = "0123456789. \n"[r.IntN(13)]
		} else {
			b[j] = byte(r.Uint32())
		}
	}
	return b
}

func bzip2(t *testing.T, data []byte) []byte {
	t.Helper()
	cmd := exec.Command("bzip2", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	require.NoError(t, err)
	return out
}
