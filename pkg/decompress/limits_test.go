package decompress

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/testutil"
)

// peakHeap runs fn and returns the most heap in use above what was in use
// before, sampled every millisecond while fn runs.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(done)
	<-sampled
	return peak - base
}

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// zstdFrame is a zstd frame with one raw block of data, whose header
// declares a window of 1<<log bytes.
func zstdFrame(log int, data []byte) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte(log-10) << 3}
	h := uint32(len(data))<<3 | 1 // last, raw
	b = append(b, byte(h), byte(h>>8), byte(h>>16))
	return append(b, data...)
}

// zstdSingleSegment is a single-segment frame whose content size field
// claims size bytes (and so its window), with one raw block of data.
func zstdSingleSegment(size uint64, data []byte) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0}
	b = binary.LittleEndian.AppendUint64(b, size)
	h := uint32(len(data))<<3 | 1
	b = append(b, byte(h), byte(h>>8), byte(h>>16))
	return append(b, data...)
}

// xzWithDict rewrites the LZMA2 dictionary size of the first block header of
// an xz stream to the one coded as dict (40 is 4 GiB), fixing its CRC32.
func xzWithDict(t *testing.T, c []byte, dict byte) []byte {
	t.Helper()
	c = append([]byte{}, c...)
	const start = 12 // after the stream header
	size := (int(c[start]) + 1) * 4
	hdr := c[start : start+size]
	flags := hdr[1]
	i := 2
	for range 2 { // compressed and uncompressed size, when present
		if flags&0xc0 == 0 {
			break
		}
	}
	if flags&0x40 != 0 {
		for hdr[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if flags&0x80 != 0 {
		for hdr[i]&0x80 != 0 {
			i++
		}
		i++
	}
	require.Equal(t, byte(0x21), hdr[i], "the first filter is LZMA2")
	require.Equal(t, byte(1), hdr[i+1])
	hdr[i+2] = dict
	binary.LittleEndian.PutUint32(hdr[size-4:], crc32.ChecksumIEEE(hdr[:size-4]))
	return c
}

// A header claiming a huge window or dictionary is refused as corrupt
// before anything is allocated for it.
func TestHugeWindowsAreRefused(t *testing.T) {
	xzData := compress(t, Xz, payload(10_000, 41))
	cases := []struct {
		name  string
		f     Format
		in    []byte
		limit int
	}{
		{name: "zstd window 512 MiB", f: Zstd, in: zstdFrame(29, []byte("hello"))},
		{name: "zstd window 64 MiB", f: Zstd, in: zstdFrame(26, []byte("hello"))},
		{name: "zstd content size 512 MiB", f: Zstd, in: zstdSingleSegment(512<<20, []byte("hello"))},
		{name: "zstd second frame 256 MiB", f: Zstd, in: append(zstdFrame(20, []byte("hi")), zstdFrame(28, []byte("there"))...)},
		{name: "xz dictionary 4 GiB", f: Xz, in: xzWithDict(t, xzData, 40)},
		{name: "xz dictionary 1.5 GiB", f: Xz, in: xzWithDict(t, xzData, 37)},
		{name: "xz dictionary 64 MiB", f: Xz, in: xzWithDict(t, xzData, 28)},
		{name: "xz dictionary 8 MiB under a 4 MiB limit", f: Xz, in: xzWithDict(t, xzData, 22), limit: 4 << 20},
		{name: "xz second stream 4 GiB", f: Xz, in: append(xzWithDict(t, xzData, 16), xzWithDict(t, xzData, 40)...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, f := range []Format{c.f, Auto} {
				var err error
				n := allocated(func() {
					var r *Reader
					r, err = Open(context.Background(), f, bytes.NewReader(c.in), Options{MaxWindow: c.limit})
					if err == nil {
						_, err = io.Copy(io.Discard, r)
						r.Close()
					}
				})
				require.Error(t, err)
				assert.True(t, IsCorrupt(err), "want corrupt, got %v", err)
				assert.NotRegexp(t, "corrupt .* stream: corrupt .* stream", err.Error(), "said once")
				t.Logf("%v: %v, %d KiB allocated", f, err, n>>10)
				assert.Less(t, n, uint64(4<<20), "allocated %d bytes", n)
			}
		})
	}
}

// The cap lets real files through: a window at the limit decodes, and
// Options.MaxWindow raises it.
func TestWindowsWithinTheLimitDecode(t *testing.T) {
	xzData := compress(t, Xz, payload(10_000, 41))
	for _, c := range []struct {
		name  string
		f     Format
		in    []byte
		limit int
	}{
		{name: "zstd window 32 MiB", f: Zstd, in: zstdFrame(25, []byte("hello"))},
		{name: "zstd window 64 MiB, limit raised", f: Zstd, in: zstdFrame(26, []byte("hello")), limit: 64 << 20},
		{name: "xz dictionary 32 MiB", f: Xz, in: xzWithDict(t, xzData, 26)},
		{name: "xz dictionary 64 MiB, limit raised", f: Xz, in: xzWithDict(t, xzData, 28), limit: 64 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Open(context.Background(), c.f, bytes.NewReader(c.in), Options{MaxWindow: c.limit})
			require.NoError(t, err)
			defer r.Close()
			_, err = io.Copy(io.Discard, r)
			require.NoError(t, err)
		})
	}
}

// Bombs (long runs of zeros, a few hundred bytes each compressed) decode in
// bounded memory, four at once as a fetch of four artifacts would.
func TestBombsDecodeInBoundedMemory(t *testing.T) {
	// Under -race (as CI runs) decoding is several times slower: bzip2 gets
	// two of its largest blocks (45 MB each), the others 16 MiB, enough to
	// fill their windows.
	sizes := map[Format]int{Bzip2: 200 << 20, Gzip: 200 << 20, Zstd: 200 << 20, Xz: 200 << 20}
	if raceEnabled {
		sizes = map[Format]int{Bzip2: 48 << 20, Gzip: 16 << 20, Zstd: 16 << 20, Xz: 16 << 20}
	}
	bombs := map[Format][]byte{Bzip2: testutil.Bzip2(t, make([]byte, sizes[Bzip2]), 9)}
	for _, f := range []Format{Gzip, Zstd, Xz} {
		bombs[f] = compress(t, f, make([]byte, sizes[f]))
	}
	// Nothing big stays live: the heap's growth is the decoders' alone.
	runtime.GC()
	const bound = 96 << 20
	for _, f := range []Format{Bzip2, Gzip, Zstd, Xz} {
		t.Run(f.String(), func(t *testing.T) {
			bomb, size := bombs[f], sizes[f]
			t.Logf("%v bomb: %d bytes for %d MiB", f, len(bomb), size>>20)
			pool := NewPool(2)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			peak := peakHeap(func() {
				for i := range errs {
					wg.Go(func() {
						r, err := Open(context.Background(), Auto, bytes.NewReader(bomb), Options{Pool: pool})
						if err != nil {
							errs[i] = err
							return
						}
						defer r.Close()
						n, err := io.Copy(io.Discard, r)
						if err == nil && n != int64(size) {
							err = io.ErrShortWrite
						}
						errs[i] = err
					})
				}
				wg.Wait()
			})
			t.Logf("%v: four bombs at once, peak heap %d MiB", f, peak>>20)
			for _, err := range errs {
				require.NoError(t, err)
			}
			assert.Less(t, peak, uint64(bound), "peak heap %d MiB", peak>>20)
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
