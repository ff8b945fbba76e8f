package main

// The Hugging Face Hub journey (testdata/script/hub.txtar): a fake Hub
// (internal/testsrv) driven from the script.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/djok/modelfetch/internal/testsrv"
)

var hubs sync.Map // *testscript.TestScript -> *testsrv.Hub

// hub start [-tls] [-token T] | push TYPE/ORG/REPO BRANCH PATH=FILE[:lfs|:lie|:html]... |
// repo TYPE/ORG/REPO gated|private | fault K=V... | counts K=N... | reset
//
// Faults: ratelimit=N, expire=N, loop, notjson, endless, stall=SECONDS
// (an API answer stops after its headers).
//
// start sets $HF_ENDPOINT (and $SSL_CERT_FILE with -tls); push sets
// $COMMIT to the new commit. counts checks requests, api, head, get,
// storage (GETs of the storage host), bytes (file bytes served), auth
// (storage requests with a token), expired.
func cmdHub(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: hub start|push|repo|fault|counts|reset ...")
	}
	if args[0] == "start" {
		hubStart(ts, args[1:])
		return
	}
	v, ok := hubs.Load(ts)
	if !ok {
		ts.Fatalf("hub %s: no hub started", args[0])
	}
	h := v.(*testsrv.Hub)
	switch args[0] {
	case "push":
		hubPush(ts, h, args[1:])
	case "repo":
		typ, id := splitHubRepo(ts, args[1])
		h.Repo(typ, id, args[2] == "gated", args[2] == "private")
	case "fault":
		h.SetFaults(hubFaults(ts, args[1:]))
	case "counts":
		hubCounts(ts, h, args[1:])
	case "reset":
		h.ResetCounts()
	default:
		ts.Fatalf("hub %s: unknown", args[0])
	}
}

func hubStart(ts *testscript.TestScript, args []string) {
	var o testsrv.HubOptions
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-tls":
			o.TLS = true
		case "-token":
			i++
			o.Token = args[i]
		}
	}
	h := testsrv.StartHub(o)
	hubs.Store(ts, h)
	ts.Defer(h.Close)
	ts.Setenv("HF_ENDPOINT", h.URL)
	if o.TLS {
		writeFile(ts, "hub-cert.pem", h.CertPEM())
		ts.Setenv("SSL_CERT_FILE", ts.MkAbs("hub-cert.pem"))
	}
}

func splitHubRepo(ts *testscript.TestScript, s string) (string, string) {
	typ, id, ok := strings.Cut(s, "/")
	if !ok || strings.Count(id, "/") != 1 {
		ts.Fatalf("want TYPE/ORG/REPO, got %q", s)
	}
	return typ, id
}

func hubPush(ts *testscript.TestScript, h *testsrv.Hub, args []string) {
	typ, id := splitHubRepo(ts, args[0])
	files := map[string]testsrv.HubFile{}
	for _, a := range args[2:] {
		p, spec, _ := strings.Cut(a, "=")
		file, kind, _ := strings.Cut(spec, ":")
		b, err := os.ReadFile(ts.MkAbs(file))
		ts.Check(err)
		f := testsrv.HubFile{Data: b}
		switch kind {
		case "lfs":
			f.LFS = true
		case "lie":
			f.LFS, f.LieSHA256 = true, strings.Repeat("e", 64)
		case "html":
			f.HTML = true
		}
		files[p] = f
	}
	ts.Setenv("COMMIT", h.Push(typ, id, args[1], files))
}

func hubFaults(ts *testscript.TestScript, args []string) testsrv.HubFaults {
	var f testsrv.HubFaults
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		n, _ := strconv.Atoi(v)
		switch k {
		case "ratelimit":
			f.RateLimit = n
		case "expire":
			f.ExpireAfter = n
		case "loop":
			f.RedirectLoop = true
		case "notjson":
			f.APINotJSON = true
		case "endless":
			f.APIEndless = true
		case "stall":
			f.APIStall = time.Duration(n) * time.Second
		case "none":
		default:
			ts.Fatalf("hub fault %s: unknown", k)
		}
	}
	return f
}

func hubCounts(ts *testscript.TestScript, h *testsrv.Hub, args []string) {
	c := h.Counts()
	got := map[string]int64{"requests": int64(c.Requests), "api": int64(c.API), "head": int64(c.ResolveHEAD), "get": int64(c.ResolveGET),
		"storage": int64(c.StorageGET), "bytes": c.FileBytes, "auth": int64(c.StorageAuth), "expired": int64(c.Expired)}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		want, err := strconv.ParseInt(v, 10, 64)
		ts.Check(err)
		if g, ok := got[k]; !ok || g != want {
			ts.Fatalf("hub %s: %d, want %d (all: %+v)", k, g, want, c)
		}
	}
	fmt.Fprintf(ts.Stdout(), "%+v\n", c)
}
