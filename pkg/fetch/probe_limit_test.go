package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/decompress"
	"github.com/djok/modelfetch/pkg/digest"
)

// A probe decodes no more than its limit: a small gzip body that expands to
// 8 MiB stops at the limit with a size error, and nothing reaches the cache.
func TestProbeIsBounded(t *testing.T) {
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write(make([]byte, 8<<20))
	require.NoError(t, zw.Close())
	srv := newServer(t, serveRanges(bomb.Bytes()))
	e := newEnv(t)
	f := New(e.opts())
	src := srcOf(srv.URL+"/bomb.gz", decompress.Auto)
	m := model(nil, srv.URL+"/bomb.gz")

	_, err := f.Probe(context.Background(), m, src, 1000)
	var se *digest.SizeError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.True(t, se.Over)
	var srcErr *SourceError
	require.ErrorAs(t, err, &srcErr)
	assert.Equal(t, KindIntegrity, srcErr.Kind)
	entries, err := e.cache.List()
	require.NoError(t, err)
	assert.Empty(t, entries)

	p, err := f.Probe(context.Background(), m, src, 8<<20)
	require.NoError(t, err)
	assert.Equal(t, int64(8<<20), p.InstalledSize)
}
