package fetch

import (
	"context"
	"os"
	"testing"
)

// The whole pipeline over loopback: download, hash, write, rename. The
// server is unthrottled, so this measures modelfetch's own overhead; the
// throttled comparison is bench/run.sh.
func benchmarkInstall(b *testing.B, conns int) {
	data := randomBytes(32<<20, 99)
	srv := newServer(b, serveRanges(data))
	m := model(data, srv.URL+"/m.bin")
	root := b.TempDir()
	o := Options{Connections: conns, BackoffBase: 1}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		res := New(o).Install(context.Background(), []Target{{Model: m, Root: root, FileMode: 0o644, DirMode: 0o755}})
		if res[0].Err != nil {
			b.Fatal(res[0].Err)
		}
		os.Remove(res[0].Dest)
	}
}

func BenchmarkInstallOneConnection(b *testing.B)   { benchmarkInstall(b, 1) }
func BenchmarkInstallFourConnections(b *testing.B) { benchmarkInstall(b, 4) }
