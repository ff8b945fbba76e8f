package bzip2

import (
	"bytes"
	"io"
	"os/exec"
	"testing"
)

// Runs of a byte (4 copies, then a count) decode right whatever the sizes of
// the reads: a read that ends exactly where a run ends used to count the next
// equal byte into the finished run.
func TestRunsAcrossReadBoundaries(t *testing.T) {
	if _, err := exec.LookPath("bzip2"); err != nil {
		t.Skip("bzip2 not installed")
	}
	data := append(bytes.Repeat([]byte{0}, 3000), bytes.Repeat([]byte("ab"), 500)...)
	data = append(data, bytes.Repeat([]byte{7}, 2000)...)
	cmd := exec.Command("bzip2", "-c", "-9")
	cmd.Stdin = bytes.NewReader(data)
	c, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for size := 1; size <= 300; size++ {
		r := NewReader(bytes.NewReader(c))
		var got []byte
		buf := make([]byte, size)
		for {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reads of %d bytes: %v", size, err)
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("reads of %d bytes: output differs", size)
		}
	}
}
