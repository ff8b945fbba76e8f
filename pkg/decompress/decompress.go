// Package decompress detects and decodes the compressed encodings a model may
// be served in (bzip2, gzip, zstd, xz), as streams.
//
// Decoders read their input once, front to back, so they compose with hashing
// and size limits in one pipeline. Errors are classified: IsTruncated reports a
// stream that ended before its end marker (a transient fault: the input was cut
// short), IsCorrupt a stream that is complete but bad.
package decompress

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/cosnicolaou/pbzip2"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Format is a compressed encoding. The zero value, Auto, means "detect it from
// the first bytes".
type Format int

// The formats, in the order of their names in Formats.
const (
	Auto Format = iota
	None
	Bzip2
	Gzip
	Zstd
	Xz
)

var names = [...]string{Auto: "auto", None: "none", Bzip2: "bzip2", Gzip: "gzip", Zstd: "zstd", Xz: "xz"}

// Formats lists the names Parse accepts, for error messages.
const Formats = `"none", "bzip2", "gzip", "zstd", "xz"`

// String returns the format's manifest name.
func (f Format) String() string {
	if f < 0 || int(f) >= len(names) {
		return fmt.Sprintf("format(%d)", int(f))
	}
	return names[f]
}

// Parse returns the format named s ("" is Auto).
func Parse(s string) (Format, error) {
	if s == "" {
		return Auto, nil
	}
	for f, n := range names {
		if n == s && Format(f) != Auto {
			return Format(f), nil
		}
	}
	return Auto, fmt.Errorf("unknown compression %q: want one of %s", s, Formats)
}

var magics = []struct {
	f     Format
	magic []byte
}{
	{Bzip2, []byte("BZh")},
	{Gzip, []byte{0x1f, 0x8b}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{Xz, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
}

// Sniff returns the format whose magic bytes start head, or None.
func Sniff(head []byte) Format {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			if m.f == Bzip2 && (len(head) < 4 || head[3] < '1' || head[3] > '9') {
				continue
			}
			return m.f
		}
	}
	return None
}

// Detect peeks at the first bytes of br (without consuming them) and returns
// the format they announce, or None.
func Detect(br *bufio.Reader) (Format, error) {
	head, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return None, err
	}
	return Sniff(head), nil
}

// NewReader returns a reader of the bytes r decodes to under f. f must not be
// Auto (call Detect first). Close releases decoder resources; it does not close r.
func NewReader(f Format, r io.Reader) (io.ReadCloser, error) {
	switch f {
	case None:
		return io.NopCloser(r), nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case Gzip:
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, wrapCorrupt(f, err)
		}
		return z, nil
	case Zstd:
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, wrapCorrupt(f, err)
		}
		return z.IOReadCloser(), nil
	case Xz:
		z, err := xz.NewReader(r)
		if err != nil {
			return nil, wrapCorrupt(f, err)
		}
		return io.NopCloser(z), nil
	}
	return nil, fmt.Errorf("decompress: no decoder for %v", f)
}

// CorruptError is a compressed stream that is complete but cannot be decoded
// (bad header, bad block checksum, garbage).
type CorruptError struct {
	Format Format
	Err    error
}

func (e *CorruptError) Error() string { return fmt.Sprintf("corrupt %v stream: %v", e.Format, e.Err) }
func (e *CorruptError) Unwrap() error { return e.Err }

func wrapCorrupt(f Format, err error) error {
	if err == nil || IsTruncated(err) {
		return err
	}
	return &CorruptError{Format: f, Err: err}
}

// IsTruncated reports whether err means the input ended before the stream's
// end marker.
func IsTruncated(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }

// IsCorrupt reports whether err is a *CorruptError.
func IsCorrupt(err error) bool {
	var c *CorruptError
	return errors.As(err, &c)
}

// Options tune decoding. The zero value decodes bzip2 on every core with a
// pool of its own.
type Options struct {
	// Pool, when not nil, bounds bzip2 block decoding across every stream
	// that shares it (one token per block being decoded); see NewPool.
	Pool chan struct{}
	// Serial decodes bzip2 with the standard library's single-threaded
	// decoder (for comparisons).
	Serial bool
}

// NewPool returns a pool that lets n bzip2 blocks decode at once across
// every stream sharing it; n <= 0 means one per CPU.
func NewPool(n int) chan struct{} {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	return pbzip2.CreateConcurrencyPool(n)
}

// newParallelBzip2 decodes bzip2 blocks concurrently (cosnicolaou/pbzip2),
// streams and multi-streams alike, handing them back in order.
func newParallelBzip2(ctx context.Context, r io.Reader, o Options) io.Reader {
	pool := o.Pool
	if pool == nil {
		pool = NewPool(0)
	}
	return pbzip2.NewReader(ctx, r, pbzip2.DecompressionOptions(pbzip2.BZConcurrencyPool(pool)))
}

// classifyBzip2 sorts pbzip2's errors (plain strings) into truncated and corrupt.
func classifyBzip2(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "failed to find trailer"), strings.Contains(msg, "failed to read stream header"),
		strings.Contains(msg, "stream header is too small"), strings.Contains(msg, "unexpected EOF"):
		return fmt.Errorf("bzip2 stream ends early (%s): %w", msg, io.ErrUnexpectedEOF)
	}
	return &CorruptError{Format: Bzip2, Err: err}
}

// Reader decodes r under a format and classifies the decoder's own errors:
// a complete but undecodable stream becomes *CorruptError; a stream cut short
// stays io.ErrUnexpectedEOF. Errors of the underlying reader are passed through
// unchanged when the decoder reports them as they are; callers that need to
// tell them apart should also keep the underlying reader's own error.
type Reader struct {
	f      Format
	dec    io.ReadCloser
	src    *errReader
	cancel context.CancelFunc
}

// Open detects the format of r when f is Auto and returns a classifying
// decoder (bzip2 decodes in parallel unless o.Serial). The detected format is
// available from Format. Close releases the decoder's goroutines.
func Open(ctx context.Context, f Format, r io.Reader, o Options) (*Reader, error) {
	src := &errReader{r: r}
	var in io.Reader = src
	if f == Auto {
		br := bufio.NewReaderSize(src, 64<<10)
		var err error
		if f, err = Detect(br); err != nil {
			return nil, err
		}
		in = br
	}
	if f == Bzip2 && !o.Serial {
		ctx, cancel := context.WithCancel(ctx)
		return &Reader{f: f, dec: io.NopCloser(newParallelBzip2(ctx, in, o)), src: src, cancel: cancel}, nil
	}
	dec, err := NewReader(f, in)
	if err != nil {
		if ferr := src.failed(); ferr != nil {
			return nil, ferr
		}
		return nil, err
	}
	return &Reader{f: f, dec: dec, src: src}, nil
}

// Format returns the format being decoded.
func (r *Reader) Format() Format { return r.f }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.dec.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	if ferr := r.src.failed(); ferr != nil {
		// The input failed; that is the cause, whatever the decoder made of it.
		return n, ferr
	}
	if r.cancel != nil && !IsCorrupt(err) && !IsTruncated(err) {
		return n, classifyBzip2(err)
	}
	return n, wrapCorrupt(r.f, err)
}

// Close releases the decoder.
func (r *Reader) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	return r.dec.Close()
}

// errReader remembers the first error of the reader it wraps. A parallel
// decoder reads it from its own goroutine, hence the lock.
type errReader struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.mu.Lock()
		if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
	}
	return n, err
}

func (e *errReader) failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == io.EOF {
		return nil
	}
	return e.err
}
