// Package decompress detects and decodes the compressed encodings a model may
// be served in (bzip2, gzip, zstd, xz), as streams.
//
// Decoders read their input once, front to back, so they compose with hashing
// and size limits in one pipeline. Errors are classified: IsTruncated reports a
// stream that ended before its end marker (a transient fault: the input was cut
// short), IsCorrupt a stream that is complete but bad, including bytes after
// the last stream that cannot start another (trailing garbage).
//
// Every decoder is bounded, whatever its input claims: zstd windows and xz
// dictionaries are capped (DefaultMaxWindow), gzip's window is 32 KiB, and
// bzip2 holds a bounded number of blocks with a bounded part of each one's
// output. The input is read only by the goroutine that calls Read.
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

// exts are the file name endings that say a format.
var exts = []struct {
	f   Format
	ext string
}{{Bzip2, ".bz2"}, {Gzip, ".gz"}, {Zstd, ".zst"}, {Xz, ".xz"}}

// ByName is the format a file name's ending says (".bz2", ".gz", ".zst",
// ".xz", in any case), and the name without that ending; None and the name
// itself when it says none. The bytes decide, when they are read (Sniff);
// a name says only what to expect.
func ByName(name string) (Format, string) {
	for _, e := range exts {
		if n := len(name) - len(e.ext); n >= 0 && strings.EqualFold(name[n:], e.ext) {
			return e.f, name[:n]
		}
	}
	return None, name
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

// DefaultMaxWindow is the largest zstd window and xz dictionary a decoder
// accepts when Options.MaxWindow is zero: 32 MiB, so four streams decoding at
// once hold at most 128 MiB of history, whatever their headers claim. It
// covers zstd levels 1 to 20 and xz presets 0 to 8; a frame that needs more
// (zstd --ultra -21/-22 or --long=26 and up, xz -9) is refused as corrupt.
const DefaultMaxWindow = 32 << 20

// NewReader returns a reader of the bytes r decodes to under f, with the
// default limits. f must not be Auto (call Detect first). Close releases
// decoder resources; it does not close r. Every decoder it returns reads r
// only from the goroutine that calls Read.
func NewReader(f Format, r io.Reader) (io.ReadCloser, error) {
	return newReader(f, r, DefaultMaxWindow)
}

func newReader(f Format, r io.Reader, maxWindow int) (io.ReadCloser, error) {
	switch f {
	case None:
		return io.NopCloser(r), nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case Gzip:
		return newGzip(r)
	case Zstd:
		return newZstd(r, maxWindow)
	case Xz:
		return newXz(r, maxWindow)
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
	if err == nil || IsTruncated(err) || IsCorrupt(err) {
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

// Options tune decoding.
type Options struct {
	// Pool, when not nil, bounds bzip2 read-ahead across every stream that
	// shares it: each token lets one stream hold one more block (at most
	// about 8 MiB) beyond the one it is emitting; see NewPool. Nil gives the
	// stream a pool of its own with one token per CPU.
	Pool chan struct{}
	// Serial decodes bzip2 with the standard library's single-threaded
	// decoder (for comparisons).
	Serial bool
	// MaxWindow is the largest zstd window or xz dictionary accepted, in
	// bytes; 0 means DefaultMaxWindow. A larger one is refused as corrupt
	// before anything is allocated for it.
	MaxWindow int
}

// NewPool returns a pool of n bzip2 read-ahead tokens to share between
// streams (Options.Pool); n <= 0 means one per CPU.
func NewPool(n int) chan struct{} {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	ch := make(chan struct{}, n)
	for range n {
		ch <- struct{}{}
	}
	return ch
}

// Reader decodes r under a format and classifies the decoder's own errors:
// a complete but undecodable stream becomes *CorruptError; a stream cut short
// stays io.ErrUnexpectedEOF. Errors of the underlying reader are passed through
// unchanged when the decoder reports them as they are; callers that need to
// tell them apart should also keep the underlying reader's own error.
//
// The input is read only by the goroutine calling Read (or Open), never in
// the background, so once Read or Close has returned the caller may close
// the input. Close stops and waits for every goroutine the decoder started.
type Reader struct {
	ctx context.Context
	f   Format
	dec io.ReadCloser
	src *errReader
}

// Open detects the format of r when f is Auto and returns a classifying
// decoder (bzip2 decodes blocks in parallel unless o.Serial). The detected
// format is available from Format. Close releases the decoder's goroutines.
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
	maxWindow := o.MaxWindow
	if maxWindow <= 0 {
		maxWindow = DefaultMaxWindow
	}
	var dec io.ReadCloser
	var err error
	if f == Bzip2 && !o.Serial {
		dec = newParallelBzip2(ctx, in, o.Pool)
	} else {
		dec, err = newReader(f, in, maxWindow)
	}
	if err != nil {
		if ferr := src.failed(); ferr != nil {
			return nil, ferr
		}
		return nil, err
	}
	return &Reader{ctx: ctx, f: f, dec: dec, src: src}, nil
}

// Format returns the format being decoded.
func (r *Reader) Format() Format { return r.f }

// Read implements io.Reader. Once ctx is done it returns ctx's error.
func (r *Reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.dec.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	if ferr := r.src.failed(); ferr != nil {
		// The input failed; that is the cause, whatever the decoder made of it.
		return n, ferr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return n, err
	}
	return n, wrapCorrupt(r.f, err)
}

// Close releases the decoder; when it returns, no goroutine of the decoder
// runs or will read the input again.
func (r *Reader) Close() error { return r.dec.Close() }

// errReader remembers the first error of the reader it wraps.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

func (e *errReader) failed() error {
	if e.err == io.EOF {
		return nil
	}
	return e.err
}

// Where a stream ends. Every decoder reads concatenated streams (members,
// frames) to the end of its input, and tells apart what follows the last
// complete one: nothing (the end), the start of another cut short
// (truncated), or anything else (corrupt: trailing garbage). The decoders'
// libraries report the last two alike when the garbage is shorter than a
// stream header, hence the readers of gzip.go, zstd.go and xz.go, which
// follow each format's structure (bzip2's scanner does it for bzip2).

// garbageAfter is the error for bytes after the last complete stream that
// cannot start another.
func garbageAfter(f Format) error {
	return &CorruptError{Format: f, Err: fmt.Errorf("data after the last %v stream is not a %v stream", f, f)}
}
