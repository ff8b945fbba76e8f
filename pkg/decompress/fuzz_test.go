package decompress

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/djok/modelfetch/pkg/digest"
)

// FuzzOpen feeds arbitrary bytes to every decoder behind the size cap the
// pipeline uses: no panic, never more than the cap, and every failure is
// classified (truncated, corrupt, or the cap).
func FuzzOpen(f *testing.F) {
	data := payload(20_000, 9)
	for _, fm := range []Format{Gzip, Zstd, Xz} {
		f.Add(compress(f, fm, data))
	}
	// More seeds, streams as bzip2 makes them, are in testdata/fuzz.
	bz := compress(f, Bzip2, data)
	f.Add(bz)
	f.Add(append(bz[:len(bz):len(bz)], "garbage"...))
	f.Add(append(bz[:len(bz):len(bz)], bz[:20]...))
	f.Add([]byte("BZh91AY&SY"))
	f.Add(zstdFrame(29, []byte("hello")))
	f.Add(zstdSingleSegment(512<<20, []byte("hello")))
	f.Add([]byte{})
	pool := NewPool(2)
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 64 << 10
		for _, fm := range []Format{Auto, Bzip2, Gzip, Zstd, Xz} {
			r, err := Open(context.Background(), fm, bytes.NewReader(in), Options{Pool: pool})
			if err != nil {
				continue
			}
			capped := digest.NewReader(r, digest.Digest{}, limit)
			n, err := io.Copy(io.Discard, capped)
			r.Close()
			if n > limit {
				t.Fatalf("%v: %d bytes passed a %d byte cap", fm, n, limit)
			}
			if err != nil && !IsTruncated(err) && !IsCorrupt(err) && !digest.IsIntegrity(err) {
				t.Fatalf("%v: unclassified error %T: %v", fm, err, err)
			}
			if IsTruncated(err) && IsCorrupt(err) {
				t.Fatalf("%v: both truncated and corrupt: %v", fm, err)
			}
		}
	})
}
