// Command bz2dec decodes a bzip2 file to nowhere with modelfetch's decoder
// (parallel, or -serial for Go's compress/bzip2): the bzip2 stage alone, for
// bench/run.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/djok/modelfetch/pkg/decompress"
)

func main() {
	serial := flag.Bool("serial", false, "use Go's single-threaded compress/bzip2")
	flag.Parse()
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bz2dec:", err)
		os.Exit(1)
	}
	r, err := decompress.Open(context.Background(), decompress.Bzip2, f, decompress.Options{Serial: *serial})
	if err == nil {
		_, err = io.Copy(io.Discard, r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bz2dec:", err)
		os.Exit(1)
	}
}
