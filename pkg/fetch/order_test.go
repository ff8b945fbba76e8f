package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"path"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/manifest"
)

// Compressed files start first (their decoding overlaps the others'
// downloads), then the largest; ties keep the manifest's order.
func TestStartOrderDecodesFirstThenLargest(t *testing.T) {
	mk := func(name, url string, size int64, c decompress.Format) Target {
		m := &manifest.Model{Name: name, Size: size}
		src := srcOf(url, c)
		m.Sources = []*manifest.Source{src}
		return Target{Model: m}
	}
	targets := []Target{
		mk("small", "http://h/small.bin", 10, decompress.Auto),
		mk("large", "http://h/large.bin", 300, decompress.Auto),
		mk("bz-named", "http://h/dlib.dat.BZ2", 100, decompress.Auto),
		mk("unknown-size", "http://h/u.bin", -1, decompress.Auto),
		mk("declared-gzip", "http://h/g", 50, decompress.Gzip),
		mk("declared-none", "http://h/x.bz2", 400, decompress.None),
		mk("large-too", "http://h/large2.bin", 300, decompress.Auto),
	}
	var names []string
	for _, i := range startOrder(targets) {
		names = append(names, targets[i].Model.Name)
	}
	assert.Equal(t, []string{"bz-named", "declared-gzip", "declared-none", "large", "large-too", "small", "unknown-size"}, names)
}

// With one job, the server sees the compressed file asked for first, then
// the larger plain one, and the results keep the manifest's order.
func TestInstallStartsInStartOrder(t *testing.T) {
	plain, big := randomBytes(10<<10, 99), randomBytes(40<<10, 100)
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zdata := randomBytes(10<<10, 101)
	zw.Write(zdata)
	require.NoError(t, zw.Close())
	gz := zbuf.Bytes()
	var mu sync.Mutex
	var asked []string
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		mu.Lock()
		asked = append(asked, path.Base(r.URL.Path))
		mu.Unlock()
		data := map[string][]byte{"plain.bin": plain, "big.bin": big, "z.gz": gz}[path.Base(r.URL.Path)]
		w.Write(data)
	})
	e := newEnv(t)
	o := e.opts()
	o.Jobs = 1
	mp, mb, mz := model(plain, srv.URL+"/plain.bin"), model(big, srv.URL+"/big.bin"), model(zdata, srv.URL+"/z.gz")
	mp.Name, mp.Path, mb.Name, mb.Path, mz.Name, mz.Path = "plain", "plain.bin", "big", "big.bin", "z", "z.bin"
	res := New(o).Install(context.Background(), []Target{e.target(mp), e.target(mb), e.target(mz)})
	for _, r := range res {
		require.NoError(t, r.Err)
	}
	assert.Equal(t, []string{"plain", "big", "z"}, []string{res[0].Name, res[1].Name, res[2].Name})
	assert.Equal(t, []string{"z.gz", "big.bin", "plain.bin"}, asked)
}
