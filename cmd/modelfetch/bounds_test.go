package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testutil"
)

// TestHostileInputsStayUnder256MiB runs the binary against four hostile
// sources at once (issue 10: "peak RSS stays ≤ 256 MiB in every hostile
// case, with 4 artifacts at once") and reads the process's peak RSS from
// the kernel: bzip2 bombs, a zstd frame asking for a 512 MiB window, and a
// server that claims a 32 TiB total for a file of a few MiB.
func TestHostileInputsStayUnder256MiB(t *testing.T) {
	timeTool := testutil.Tool(t, "/usr/bin/time")
	zeros := make([]byte, 64<<20)
	bz := testutil.Bzip2(t, zeros, 9)
	var zs bytes.Buffer
	enc, err := zstd.NewWriter(&zs, zstd.WithWindowSize(512<<20), zstd.WithSingleSegment(false))
	require.NoError(t, err)
	_, _ = enc.Write(zeros[:32<<10])
	require.NoError(t, enc.Close())
	real := make([]byte, 6<<20)
	for i := range real {
		real[i] = byte(i * 7)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bomb.bz2":
			w.Write(bz)
		case "/window.zst":
			w.Write(zs.Bytes())
		case "/claims.bin":
			if strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") && r.Header.Get("Range") != "bytes=0-" {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/35184372088832", 4<<20-1))
				w.WriteHeader(http.StatusPartialContent)
				w.Write(real[:4<<20])
				return
			}
			http.ServeContent(w, r, "claims.bin", time.Unix(0, 0), bytes.NewReader(real))
		}
	}))
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	sum := sha256.Sum256(real)
	var m strings.Builder
	m.WriteString("version = 1\n[dirs]\nmodels = \"out\"\n")
	for i := range 2 {
		fmt.Fprintf(&m, "[models.bz%d]\npath = \"bz%d\"\nsha256 = %q\nsize = 1000\nurls = [\"%s/bomb.bz2\"]\n", i, i, strings.Repeat("0", 64), srv.URL)
	}
	fmt.Fprintf(&m, "[models.zst]\npath = \"zst\"\nsha256 = %q\nsize = 32768\nurls = [\"%s/window.zst\"]\n", strings.Repeat("0", 64), srv.URL)
	fmt.Fprintf(&m, "[models.claims]\npath = \"claims\"\nsha256 = %q\nsize = %d\nurls = [\"%s/claims.bin\"]\n", hex.EncodeToString(sum[:]), len(real), srv.URL)
	manifestPath := filepath.Join(dir, "models.toml")
	require.NoError(t, os.WriteFile(manifestPath, []byte(m.String()), 0o644))

	// The product binary, not this test binary: under -race the test binary
	// needs several times the memory.
	bin := filepath.Join(t.TempDir(), "modelfetch")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	// GNU time reports the peak RSS of its child alone. Our own rusage of
	// a child would count this process's memory too: the child starts as a
	// (v)fork of it, and the kernel keeps that high-water mark across exec.
	rssFile := filepath.Join(dir, "rss")
	cmd := exec.Command(timeTool, "-o", rssFile, "-f", "%M",
		bin, "-m", manifestPath, "--no-cache", "--progress", "none", "--jobs", "4")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	assert.Equal(t, 3, ee.ExitCode(), "integrity failures: %s", stderr.String())
	assert.FileExists(t, filepath.Join(dir, "out", "claims"), "the honest file behind the false claim installs")
	raw, err := os.ReadFile(rssFile)
	require.NoError(t, err)
	lines := strings.Fields(string(raw))
	require.NotEmpty(t, lines)
	kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	require.NoError(t, err, "%s", raw)
	t.Logf("peak RSS %d MiB", kb>>10)
	assert.Less(t, kb<<10, int64(256<<20), "peak RSS")
}
