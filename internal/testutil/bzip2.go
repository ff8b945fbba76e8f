package testutil

import (
	"bytes"
	"fmt"
	"os/exec"
	"testing"

	dbzip2 "github.com/dsnet/compress/bzip2"
)

// Bzip2 compresses data at level (1-9) with dsnet/compress's encoder, in
// Go: a valid bzip2 stream on any machine. Its blocks are not laid out as
// the bzip2 program lays them out (its prefix tables are assigned in turn,
// not optimised); a test about bzip2's own output uses Bzip2Program.
func Bzip2(t testing.TB, data []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := dbzip2.NewWriter(&buf, &dbzip2.WriterConfig{Level: level})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Bzip2Program compresses data at level (1-9) with the system bzip2, the
// compressor of most .bz2 files. Without it the test is skipped, or fails
// under CI=true (see Missing).
func Bzip2Program(t testing.TB, data []byte, level int) []byte {
	t.Helper()
	cmd := exec.Command(Tool(t, "bzip2"), "-c", fmt.Sprintf("-%d", level))
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bzip2 -%d: %v", level, err)
	}
	return out
}
