// Command hubsrv answers like the Hugging Face Hub for one repository made
// of a folder's files, for bench/hub.sh: the revision API, and resolve
// answering 302 to the file on a storage host (a bench/throttle server, so
// the bytes are paced like a CDN's) with X-Repo-Commit, X-Linked-Etag and
// X-Linked-Size, as the Hub does for an LFS file. It hashes every file at
// start, and prints "hub REPO on URL" once it accepts connections.
//
// The fake Hub of the tests (internal/testsrv) holds its files in memory;
// this one serves a benchmark's gigabyte from disk.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// commit is the one commit the repository has.
const commit = "0123456789abcdef0123456789abcdef01234567"

type file struct {
	sum  string
	size int64
}

func main() {
	dir := flag.String("dir", ".", "the repository's files")
	repo := flag.String("repo", "bench/standins", "ORG/REPO")
	storage := flag.String("storage", "", "base URL of the host that serves the files")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("hubsrv: ")
	files, err := hashAll(*dir)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("hub %s on http://%s", *repo, ln.Addr())
	prefix := "/" + *repo + "/resolve/"
	api := "/api/models/" + *repo + "/revision/"
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, api):
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"id": *repo, "sha": commit})
		case strings.HasPrefix(r.URL.Path, prefix):
			_, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, prefix), "/")
			f, ok := files[name]
			if !ok {
				w.Header().Set("X-Error-Code", "EntryNotFound")
				http.Error(w, "no such file", http.StatusNotFound)
				return
			}
			w.Header().Set("X-Repo-Commit", commit)
			w.Header().Set("X-Linked-Etag", strconv.Quote(f.sum))
			w.Header().Set("X-Linked-Size", strconv.FormatInt(f.size, 10))
			w.Header().Set("Location", *storage+"/"+name)
			w.WriteHeader(http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	})))
}

// hashAll hashes the regular files directly in dir.
func hashAll(dir string) (map[string]file, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]file{}
	for _, e := range es {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		out[e.Name()] = file{sum: hex.EncodeToString(h.Sum(nil)), size: n}
	}
	return out, nil
}
