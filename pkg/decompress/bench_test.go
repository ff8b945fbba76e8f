package decompress

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	dbzip2 "github.com/dsnet/compress/bzip2"

	"github.com/djok/modelfetch/internal/testutil"
)

// The bzip2 stage alone: Go's single-threaded decoder against the parallel
// one modelfetch uses. Run: go test -bench Bzip2 ./pkg/decompress. The
// streams are the bzip2 program's, as the files served are (without it the
// benchmarks are skipped, or fail under CI=true).
func benchmarkBzip2(b *testing.B, data, c []byte, o Options) {
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

func BenchmarkBzip2Serial(b *testing.B) {
	data := payload(16<<20, 12)
	benchmarkBzip2(b, data, testutil.Bzip2Program(b, data, 1), Options{Serial: true})
}

func BenchmarkBzip2Parallel(b *testing.B) {
	data := payload(16<<20, 12)
	benchmarkBzip2(b, data, testutil.Bzip2Program(b, data, 1), Options{})
}

// floats returns n bytes that look like a trained model's float32 weights,
// as bench/gen -kind floats writes them (bzip2 -9 shrinks them to about
// 64%, as it does dlib's predictor): the realistic bzip2 input.
func floats(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]byte, 0, n+4)
	for len(out) < n {
		v := float32(math.Round(r.NormFloat64()*200) / 1024)
		if r.IntN(5) < 2 {
			v += float32(r.NormFloat64() * 1e-3)
		}
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out[:n]
}

// floatsFixture returns 32 MiB of floats and their bzip2 -9 stream, made
// once.
func floatsFixture(b *testing.B) ([]byte, []byte) {
	testutil.Tool(b, "bzip2")
	floatsOnce.Do(func() {
		floatsOnce.data = floats(32<<20, 3)
		floatsOnce.c = testutil.Bzip2Program(b, floatsOnce.data, 9)
	})
	if floatsOnce.c == nil {
		b.Fatal("bzip2 -9 failed")
	}
	return floatsOnce.data, floatsOnce.c
}

var floatsOnce struct {
	sync.Once
	data, c []byte
}

// BenchmarkBzip2Floats decodes 32 MiB of model-like floats compressed with
// bzip2 -9 (20.4 MB, 38 blocks), the dlib stand-in's kind of data. On the
// shared 2-core machine, runs alternated with the code before bzblock.go:
// 0.54-0.64 s/op (53-63 MB/s) against 1.18-2.35 s/op (14-29 MB/s); the same
// file through bench/bz2dec takes 0.50-0.63 s (1.18-1.71 s before),
// lbzip2 -d -n2 0.73-0.88 s, lbzip2 -d -n1 1.29-1.73 s.
func BenchmarkBzip2Floats(b *testing.B) {
	data, c := floatsFixture(b)
	benchmarkBzip2(b, data, c, Options{})
}

// floatsBlocks scans the first n blocks of the floats fixture.
func floatsBlocks(b *testing.B, n int) []*bzBlock {
	_, c := floatsFixture(b)
	sc := bzScanner{in: bufio.NewReader(bytes.NewReader(c))}
	var blocks []*bzBlock
	for len(blocks) < n {
		blk, err := sc.next()
		if err != nil {
			b.Fatal(err)
		}
		blocks = append(blocks, blk)
	}
	return blocks
}

// One core decoding blocks, the block decoder against the reference one.
func benchmarkBlocks(b *testing.B, reference bool) {
	blocks := floatsBlocks(b, 8)
	out := make([]byte, 1<<20)
	b.SetBytes(8 * 900_000)
	for b.Loop() {
		for _, blk := range blocks {
			var r io.Reader
			if reference {
				d, err := dbzip2.NewReader(bytes.NewReader(blk.stream), nil)
				if err != nil {
					b.Fatal(err)
				}
				r = d
			} else {
				d := bzDecPool.Get().(*bzDec)
				run, err := d.decode(blk.stream, blk.bits, blk.level)
				bzDecPool.Put(d)
				if err != nil {
					b.Fatal(err)
				}
				r = run
			}
			for {
				_, err := r.Read(out)
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

func BenchmarkBzip2BlockOwn(b *testing.B)       { benchmarkBlocks(b, false) }
func BenchmarkBzip2BlockReference(b *testing.B) { benchmarkBlocks(b, true) }
