package fetch

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/djok/modelfetch/internal/fsutil"
)

// source is the seam between the pipeline and where bytes come from: it
// opens the bytes of one URL as served, from an offset. Implementations:
// httpSource (one connection, or ranged chunks over several: parallel.go)
// and fileSource. Retries and resumption are not theirs: stream (stream.go)
// wraps a source with the retry policy.
type source interface {
	// open returns a body delivering the bytes from off to the end, or from
	// byte 0 when the source cannot resume (body.start says which).
	open(ctx context.Context, off int64) (*body, error)
}

// body is an opened source.
type body struct {
	io.ReadCloser
	start int64 // offset of the first byte it delivers
	total int64 // length of the whole resource as the source tells it; -1 unknown
	// final means the body retried its own faults already (parallel
	// chunks): an error from it is not retried again.
	final bool
}

// fileSource reads a local file (file:// URLs).
type fileSource struct{ path string }

func (s *fileSource) open(ctx context.Context, off int64) (*body, error) {
	// Stat before opening: opening a FIFO would block until a writer came.
	fi, err := os.Stat(s.path)
	switch {
	case err != nil:
		return nil, &permanentError{fsutil.PathCause(err)}
	case fi.IsDir():
		return nil, &permanentError{errors.New("is a directory")}
	case !fi.Mode().IsRegular():
		return nil, &permanentError{errors.New("not a regular file")}
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, &permanentError{fsutil.PathCause(err)}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, &permanentError{err}
	}
	return &body{ReadCloser: &fileBody{f: f, ctx: ctx}, start: off, total: fi.Size()}, nil
}

type fileBody struct {
	f   *os.File
	ctx context.Context
}

func (b *fileBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := b.f.Read(p)
	if err != nil && err != io.EOF {
		err = &permanentError{err}
	}
	return n, err
}

func (b *fileBody) Close() error { return b.f.Close() }
