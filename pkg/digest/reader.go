package digest

import (
	"errors"
	"fmt"
	"io"
)

// MismatchError reports bytes that arrived whole but hash to the wrong digest.
type MismatchError struct {
	Got, Want Digest
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("sha256 mismatch: got %s, want %s", e.Got, e.Want)
}

// SizeError reports a stream whose length differs from the declared size.
// Over is true when the stream went past the size (it was stopped there).
type SizeError struct {
	Got, Want int64
	Over      bool
}

func (e *SizeError) Error() string {
	if e.Over {
		return fmt.Sprintf("size mismatch: more than the declared %d bytes", e.Want)
	}
	return fmt.Sprintf("size mismatch: got %d bytes, want %d", e.Got, e.Want)
}

// IsIntegrity reports whether err says that complete bytes failed verification
// (a digest or size mismatch), as opposed to an I/O fault.
func IsIntegrity(err error) bool {
	var m *MismatchError
	var s *SizeError
	return errors.As(err, &m) || errors.As(err, &s)
}

// Reader passes bytes through while hashing them. It never returns more than
// the declared size (a larger stream fails with *SizeError as soon as it goes
// past it), and at EOF it checks size and digest, so a failed verification
// surfaces from Read and a plain io.Copy fails on a bad stream.
type Reader struct {
	r    io.Reader
	v    *Verifier
	want Digest
	size int64 // -1: unknown
	err  error
}

// NewReader verifies r against want (skipped when zero) and size (skipped when
// negative).
func NewReader(r io.Reader, want Digest, size int64) *Reader {
	return &Reader{r: r, v: NewVerifier(), want: want, size: size}
}

// NewSizeReader checks only the size (skipped when negative) and does not
// hash: for streams whose digest nobody asked for. Digest returns zero.
func NewSizeReader(r io.Reader, size int64) *Reader {
	return &Reader{r: r, v: &Verifier{}, size: size}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.size >= 0 {
		// Ask for one byte more than is left so overflow is seen without
		// waiting for the next call; never pass on bytes past the size.
		left := r.size - r.v.Size()
		if left < int64(len(p))-1 { // not left+1 < len(p): left+1 may overflow
			p = p[:left+1]
		}
	}
	n, err := r.r.Read(p)
	if r.size >= 0 && r.v.Size()+int64(n) > r.size {
		n = int(r.size - r.v.Size())
		_, _ = r.v.Write(p[:n])
		r.err = &SizeError{Got: r.size + 1, Want: r.size, Over: true}
		return n, r.err
	}
	_, _ = r.v.Write(p[:n])
	if err == io.EOF {
		switch got := r.v.Digest(); {
		case r.size >= 0 && r.v.Size() != r.size:
			err = &SizeError{Got: r.v.Size(), Want: r.size}
		case !r.want.IsZero() && got != r.want:
			err = &MismatchError{Got: got, Want: r.want}
		}
	}
	if err != nil {
		r.err = err
	}
	return n, err
}

// Digest returns the digest of the bytes read so far.
func (r *Reader) Digest() Digest { return r.v.Digest() }

// Size returns the number of bytes read so far.
func (r *Reader) Size() int64 { return r.v.Size() }
