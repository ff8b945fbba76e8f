package main

import (
	"context"
	"os"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/djok/modelfetch/internal/testsrv"
)

// The registry sources journey (oci.txtar): artifacts pushed to the real
// docker-registry in the layouts models are published in.

var layouts = map[string]testsrv.Layout{
	"modelpack":     testsrv.ModelPackRaw,
	"modelpack-tar": testsrv.ModelPackTar,
	"kitops":        testsrv.KitOps,
	"docker":        testsrv.DockerModel,
}

// ocipush VAR ADDR/REPO:TAG LAYOUT [USER:PASSWORD] PATH=FILE... pushes the
// files (read from the work folder, each named PATH in the artifact) to the
// registry at ADDR over plain http in LAYOUT (modelpack, modelpack-tar,
// kitops, docker), and sets VAR to the manifest's digest.
func cmdOCIPush(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: ocipush VAR ADDR/REPO:TAG LAYOUT [USER:PASSWORD] PATH=FILE..."
	if neg || len(args) < 4 {
		ts.Fatalf(usage)
	}
	name, tag, ok := strings.Cut(args[1], ":")
	if i := strings.LastIndexByte(args[1], ':'); i > strings.IndexByte(args[1], '/') {
		name, tag, ok = args[1][:i], args[1][i+1:], true
	}
	addr, repo, ok2 := strings.Cut(name, "/")
	layout, ok3 := layouts[args[2]]
	if !ok || !ok2 || !ok3 {
		ts.Fatalf(usage)
	}
	rest := args[3:]
	var user, pass string
	if !strings.Contains(rest[0], "=") {
		user, pass, _ = strings.Cut(rest[0], ":")
		rest = rest[1:]
	}
	var files []testsrv.ArtifactFile
	for _, a := range rest {
		p, file, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf(usage)
		}
		data, err := os.ReadFile(ts.MkAbs(file))
		ts.Check(err)
		files = append(files, testsrv.ArtifactFile{Path: p, Data: data})
	}
	d, err := testsrv.PushArtifact(context.Background(), addr, repo, tag, layout, files, user, pass)
	ts.Check(err)
	ts.Setenv(args[0], d)
}

// ociindex ADDR/REPO:TAG CHILD... tags an index of the manifests the CHILD
// tags of the same repository name.
func cmdOCIIndex(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: ociindex ADDR/REPO:TAG CHILD...")
	}
	i := strings.LastIndexByte(args[0], ':')
	addr, repo, ok := strings.Cut(args[0][:max(i, 0)], "/")
	if i < 0 || !ok {
		ts.Fatalf("usage: ociindex ADDR/REPO:TAG CHILD...")
	}
	_, err := testsrv.PushIndex(context.Background(), addr, repo, args[0][i+1:], args[1:]...)
	ts.Check(err)
}
