package decompress

import (
	"bufio"
	"bytes"
	"io"

	"github.com/klauspost/compress/gzip"
)

// gzReader decodes gzip members one at a time (gzip reads a *bufio.Reader
// exactly, so the bytes after a member are still there to look at).
type gzReader struct {
	z  *gzip.Reader
	br *bufio.Reader
}

var gzipMagic = []byte{0x1f, 0x8b, 0x08}

func newGzip(r io.Reader) (io.ReadCloser, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	z, err := gzip.NewReader(br)
	if err != nil {
		return nil, wrapCorrupt(Gzip, err)
	}
	z.Multistream(false)
	return &gzReader{z: z, br: br}, nil
}

func (g *gzReader) Read(p []byte) (int, error) {
	for {
		n, err := g.z.Read(p)
		if err != io.EOF {
			return n, err
		}
		head, err := g.br.Peek(len(gzipMagic))
		if len(head) == 0 && err == io.EOF {
			return n, io.EOF
		}
		if err != nil && err != io.EOF {
			return n, err
		}
		if !bytes.HasPrefix(gzipMagic, head) {
			return n, garbageAfter(Gzip)
		}
		if err := g.z.Reset(g.br); err != nil {
			return n, err
		}
		g.z.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

func (g *gzReader) Close() error { return g.z.Close() }
