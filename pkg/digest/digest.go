// Package digest is a validated SHA-256 digest value and a hashing writer.
//
// A Digest parses and validates itself (it implements encoding.TextUnmarshaler),
// so a value of this type is always either zero ("not known") or 64 lowercase hex
// digits.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
)

// Digest is a SHA-256 digest. The zero value means "not known".
type Digest struct {
	sum [sha256.Size]byte
	set bool
}

// Parse returns the Digest for s, which must be exactly 64 lowercase hex digits.
func Parse(s string) (Digest, error) {
	if len(s) != 2*sha256.Size {
		return Digest{}, fmt.Errorf("sha256 must be 64 lowercase hex digits, got %d characters", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return Digest{}, fmt.Errorf("sha256 must be 64 lowercase hex digits, got %q at offset %d", c, i)
		}
	}
	var d Digest
	if _, err := hex.Decode(d.sum[:], []byte(s)); err != nil {
		return Digest{}, fmt.Errorf("sha256: %w", err)
	}
	d.set = true
	return d, nil
}

// MustParse is Parse for constants in tests and tables; it panics on bad input.
func MustParse(s string) Digest {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// FromHash returns the digest that h (a SHA-256 hash) has computed so far.
func FromHash(h hash.Hash) Digest {
	var d Digest
	h.Sum(d.sum[:0])
	d.set = true
	return d
}

// Of returns the digest of b.
func Of(b []byte) Digest {
	return Digest{sum: sha256.Sum256(b), set: true}
}

// IsZero reports whether d is the zero ("not known") digest.
func (d Digest) IsZero() bool { return !d.set }

// String returns the 64 hex digits, or "" for the zero digest.
func (d Digest) String() string {
	if !d.set {
		return ""
	}
	return hex.EncodeToString(d.sum[:])
}

// Short returns the first 12 hex digits, for human output.
func (d Digest) Short() string {
	s := d.String()
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// Verifier hashes what is written to it and counts the bytes.
type Verifier struct {
	h hash.Hash
	n int64
}

// NewVerifier returns an empty Verifier.
func NewVerifier() *Verifier { return &Verifier{h: sha256.New()} }

// Write implements io.Writer; it never fails.
func (v *Verifier) Write(p []byte) (int, error) {
	v.n += int64(len(p))
	if v.h == nil {
		return len(p), nil
	}
	return v.h.Write(p)
}

// Digest returns the digest of what has been written so far (zero for a
// counting-only Verifier).
func (v *Verifier) Digest() Digest {
	if v.h == nil {
		return Digest{}
	}
	return FromHash(v.h)
}

// Size returns the number of bytes written so far.
func (v *Verifier) Size() int64 { return v.n }

// Reset forgets everything written so far.
func (v *Verifier) Reset() {
	if v.h != nil {
		v.h.Reset()
	}
	v.n = 0
}
