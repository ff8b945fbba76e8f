package digest

import (
	"bytes"
	"io"
	"testing"
)

// The hashing stage: every installed byte goes through it once.
func BenchmarkReader(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	want := Of(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := io.Copy(io.Discard, NewReader(bytes.NewReader(data), want, int64(len(data)))); err != nil {
			b.Fatal(err)
		}
	}
}
