// Command gen writes deterministic stand-in model files for bench/run.sh:
// "floats" looks like a trained model (float32 weights, bzip2 -9 shrinks it to
// about 64% as it does dlib's predictor), "random" is incompressible.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
)

func main() {
	kind := flag.String("kind", "random", "floats or random")
	size := flag.Int64("size", 1<<20, "bytes to write")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	r := rand.New(rand.NewPCG(*seed, 7))
	var b [8]byte
	for n := int64(0); n < *size; {
		switch *kind {
		case "floats":
			// Weights cluster on a coarse grid with a noisy tail.
			v := float32(math.Round(r.NormFloat64()*200) / 1024)
			if r.IntN(5) < 2 {
				v += float32(r.NormFloat64() * 1e-3)
			}
			binary.LittleEndian.PutUint32(b[:4], math.Float32bits(v))
			m := min(int64(4), *size-n)
			w.Write(b[:m])
			n += m
		case "random":
			binary.LittleEndian.PutUint64(b[:], r.Uint64())
			m := min(int64(8), *size-n)
			w.Write(b[:m])
			n += m
		default:
			fmt.Fprintln(os.Stderr, "gen: -kind is floats or random")
			os.Exit(2)
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
