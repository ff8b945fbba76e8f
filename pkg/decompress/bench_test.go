package decompress

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// The bzip2 stage alone: Go's single-threaded decoder against the parallel
// one modelfetch uses. Run: go test -bench Bzip2 ./pkg/decompress
func benchmarkBzip2(b *testing.B, o Options) {
	data := payload(16<<20, 12)
	c := Bzip2Fixture(b, data)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		r, err := Open(context.Background(), Bzip2, bytes.NewReader(c), o)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

func BenchmarkBzip2Serial(b *testing.B)   { benchmarkBzip2(b, Options{Serial: true}) }
func BenchmarkBzip2Parallel(b *testing.B) { benchmarkBzip2(b, Options{}) }
