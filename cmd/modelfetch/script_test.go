package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/sha256"
	cryptotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"modelfetch": func() { os.Exit(Main()) }})
}

// TestScripts runs the user journeys in testdata/script: manifest in, tree
// out, exit code and messages checked.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("MODELFETCH_CACHE", filepath.Join(e.WorkDir, ".cache"))
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			case "nginx":
				return hasNginx()
			case "registry":
				return registryInstalled()
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mf":       cmdMF,
			"gendata":  cmdGendata,
			"hashenv":  cmdHashenv,
			"subst":    cmdSubst,
			"serve":    cmdServe,
			"requests": cmdRequests,
			"perm":     cmdPerm,
			// The url rules journey (nginx_test.go).
			"nginx":      cmdNginx,
			"deadport":   cmdDeadport,
			"countlines": cmdCountlines,
			// The registry mirror journey (registry_test.go).
			"registry":     cmdRegistry,
			"registryblob": cmdRegistryBlob,
			"faultfront":   cmdFaultFront,
			// The registry sources journey (oci_test.go).
			"ocipush":  cmdOCIPush,
			"ociindex": cmdOCIIndex,
			// The Hugging Face Hub journey (hub_test.go).
			"hub": cmdHub,
		},
	})
}

// mf CODE ARGS... runs modelfetch and requires exit status CODE.
func cmdMF(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: mf CODE args...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	cmd := exec.Command("modelfetch", args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "WORK", "MODELFETCH_CACHE", "MODELFETCH_MANIFEST", "XDG_CACHE_HOME", "NETRC", "HF_TOKEN", "MODELFETCH_NETRC_DEFAULT", "SSL_CERT_FILE", "GOCOVERDIR", "MODELFETCH_URL_RULES", "PROXY_TOKEN", "MODELFETCH_MIRRORS", "DOCKER_CONFIG", "HF_ENDPOINT", "HF_HUB_OFFLINE"} {
		if v := ts.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else {
		ts.Check(err)
	}
	fmt.Fprint(ts.Stdout(), stdout.String())
	fmt.Fprint(ts.Stderr(), stderr.String())
	if got != want {
		ts.Fatalf("modelfetch exited %d, want %d\nstderr:\n%s", got, want, stderr.String())
	}
}

// gendata FILE SIZE [text] writes SIZE deterministic bytes: random, or
// compressible text with "text".
func cmdGendata(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: gendata FILE SIZE [text]")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	r := rand.New(rand.NewPCG(uint64(n), uint64(len(args[0]))))
	b := make([]byte, n)
	for i := range b {
		if len(args) > 2 && args[2] == "text" {
			b[i] = "0123456789. \n"[r.IntN(13)]
		} else {
			b[i] = byte(r.Uint32())
		}
	}
	writeFile(ts, args[0], b)
}

// hashenv VAR FILE sets VAR to FILE's sha256 and VAR_SIZE to its size.
func cmdHashenv(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: hashenv VAR FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	sum := sha256.Sum256(b)
	ts.Setenv(args[0], hex.EncodeToString(sum[:]))
	ts.Setenv(args[0]+"_SIZE", strconv.Itoa(len(b)))
}

// subst IN OUT expands $VARS in IN and writes OUT.
func cmdSubst(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: subst IN OUT")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	writeFile(ts, args[1], []byte(os.Expand(string(b), ts.Getenv)))
}

func writeFile(ts *testscript.TestScript, name string, b []byte) {
	p := ts.MkAbs(name)
	ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
	ts.Check(os.WriteFile(p, b, 0o644))
}

// scriptServer serves a folder with faults chosen by the first path part:
//
//	/ok/F       the file, with Range support
//	/corrupt/F  the file with one byte flipped
//	/reset/F    the first request resets the connection half way
//	/503/F      the first request answers 503 Retry-After: 0
//	/404/F      always 404
//	/auth/F     401 unless the request has an Authorization header
//	/redirect/P a 302 to /P on the host "localhost" (another host name for
//	            the same server)
type scriptServer struct {
	*httptest.Server
	dir  string
	mu   sync.Mutex
	hits map[string]int
	n    int
}

func (s *scriptServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	s.mu.Lock()
	s.n++
	s.hits[r.URL.Path]++
	first := s.hits[r.URL.Path] == 1
	s.mu.Unlock()
	switch mode {
	case "404":
		http.NotFound(w, r)
		return
	case "auth":
		if r.Header.Get("Authorization") == "" {
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
	case "redirect":
		_, port, _ := net.SplitHostPort(r.Host)
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		http.Redirect(w, r, scheme+"://localhost:"+port+"/"+name, http.StatusFound)
		return
	}
	b, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(name)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch mode {
	case "corrupt":
		b = append([]byte{}, b...)
		b[len(b)/2] ^= 0x01
	case "503":
		if first {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	case "reset":
		if first {
			conn, bw, _ := w.(http.Hijacker).Hijack()
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nAccept-Ranges: bytes\r\n\r\n", len(b))
			bw.Write(b[:len(b)/2])
			bw.Flush()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
			return
		}
	}
	http.ServeContent(w, r, name, time.Unix(0, 0), bytes.NewReader(b))
}

var servers sync.Map // *testscript.TestScript -> *scriptServer

// serve [-tls] DIR starts a loopback server for DIR and sets $SERVER; with
// -tls it serves https, for the names 127.0.0.1 and localhost, and sets
// $SSL_CERT_FILE to its certificate. serve stop stops it.
func cmdServe(ts *testscript.TestScript, neg bool, args []string) {
	tls := len(args) == 2 && args[0] == "-tls"
	if tls {
		args = args[1:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: serve [-tls] DIR | serve stop")
	}
	if args[0] == "stop" {
		if s, ok := servers.Load(ts); ok {
			s.(*scriptServer).Close()
		}
		return
	}
	s := &scriptServer{dir: ts.MkAbs(args[0]), hits: map[string]int{}}
	if tls {
		s.Server = httptest.NewUnstartedServer(s)
		cert, pemCert := selfSigned(ts)
		s.TLS = &cryptotls.Config{Certificates: []cryptotls.Certificate{cert}}
		s.StartTLS()
		writeFile(ts, "server-cert.pem", pemCert)
		ts.Setenv("SSL_CERT_FILE", ts.MkAbs("server-cert.pem"))
	} else {
		s.Server = httptest.NewServer(s)
	}
	servers.Store(ts, s)
	ts.Defer(s.Close)
	ts.Setenv("SERVER", s.URL)
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned(ts *testscript.TestScript) (cryptotls.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	ts.Check(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "modelfetch test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &key.PublicKey, key)
	ts.Check(err)
	return cryptotls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// requests N checks how many requests the server has had.
func cmdRequests(ts *testscript.TestScript, neg bool, args []string) {
	v, ok := servers.Load(ts)
	if !ok || len(args) != 1 {
		ts.Fatalf("usage: requests N (after serve)")
	}
	s := v.(*scriptServer)
	s.mu.Lock()
	got := s.n
	s.mu.Unlock()
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	if got != want {
		ts.Fatalf("server had %d requests, want %d", got, want)
	}
}

// perm FILE MODE [UID:GID] checks a file's permission bits and owner.
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: perm FILE MODE [UID:GID]")
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fmt.Sprintf("%04o", fi.Mode().Perm()); got != args[1] {
		ts.Fatalf("%s: mode %s, want %s", args[0], got, args[1])
	}
	if len(args) > 2 {
		st := fi.Sys().(*syscall.Stat_t)
		if got := fmt.Sprintf("%d:%d", st.Uid, st.Gid); got != args[2] {
			ts.Fatalf("%s: owner %s, want %s", args[0], got, args[2])
		}
	}
}
