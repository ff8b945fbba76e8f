//go:build linux

package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowFile is served slowly: headers after delay, then first bytes, a pause,
// and the rest in chunks, as a far or busy server serves.
type slowFile struct {
	body         []byte
	delay, pause time.Duration
	first        int
}

func slowServer(t *testing.T, files map[string]slowFile) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		wait := func(d time.Duration) bool {
			select {
			case <-r.Context().Done():
				return false
			case <-time.After(d):
				return true
			}
		}
		if !wait(f.delay) {
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(f.body)))
		w.Write(f.body[:f.first])
		w.(http.Flusher).Flush()
		if !wait(f.pause) {
			return
		}
		for off := f.first; off < len(f.body); off += 12_000 {
			w.Write(f.body[off:min(off+12_000, len(f.body))])
			w.(http.Flusher).Flush()
			if !wait(100 * time.Millisecond) {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

const longName = "codeformer-facelib-detection-resnet50-final"

// ttyJourney is a manifest of three slow models: a short name, a name too
// long for the name column, and a gzip model that first keeps the
// connection waiting, then sends its header and pauses (decoding).
func ttyJourney(t *testing.T, scale int) (manifest string, names []string) {
	rnd := rand.New(rand.NewPCG(1, 2))
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	u2, long, late := data(240_000*scale), data(360_000*scale), data(200_000*scale)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(late)
	zw.Close()
	srv := slowServer(t, map[string]slowFile{
		"u2.onnx":  {body: u2},
		"long.pth": {body: long},
		"late.gz":  {body: gz.Bytes(), delay: 700 * time.Millisecond, first: 10, pause: 700 * time.Millisecond},
	})
	var m strings.Builder
	m.WriteString("version = 1\n")
	for _, f := range []struct {
		name, path string
		data       []byte
	}{{"u2net", "u2.onnx", u2}, {longName, "long.pth", long}, {"late-gz", "late.gz", late}} {
		sum := sha256.Sum256(f.data)
		fmt.Fprintf(&m, "[models.%s]\npath = %q\nsha256 = %q\nsize = %d\nurls = [\"%s/%s\"]\n",
			f.name, f.path, hex.EncodeToString(sum[:]), len(f.data), srv.URL, f.path)
		names = append(names, f.name)
	}
	dir := t.TempDir()
	manifest = filepath.Join(dir, "models.toml")
	require.NoError(t, os.WriteFile(manifest, []byte(m.String()), 0o644))
	return manifest, names
}

// ttyRun is modelfetch running in a pseudo-terminal, its output fed to a vt.
type ttyRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	vt   *vt
	raw  bytes.Buffer
	done chan error
}

func startInTTY(t *testing.T, width int, manifest string, v *vt) *ttyRun {
	dir := filepath.Dir(manifest)
	return startCmdInTTY(t, width, dir, v, "-m", manifest, "--out", filepath.Join(dir, "out"), "--connections", "1")
}

// startCmdInTTY runs modelfetch with args in a pseudo-terminal, at home in dir.
func startCmdInTTY(t *testing.T, width int, dir string, v *vt, args ...string) *ttyRun {
	return runInTTY(t, width, ttyCmd(dir, args...), v)
}

// ttyCmd is modelfetch with args, at home in dir.
func ttyCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("modelfetch", args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "MODELFETCH_CACHE=" + filepath.Join(dir, "cache"), "TERM=xterm"}
	return cmd
}

// runInTTY starts cmd with a pseudo-terminal for what it has not set of its
// stdin, stdout and stderr.
func runInTTY(t *testing.T, width int, cmd *exec.Cmd, v *vt) *ttyRun {
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(width), Rows: 40})
	require.NoError(t, err)
	r := &ttyRun{t: t, cmd: cmd, tty: tty, vt: v, done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			r.mu.Lock()
			r.raw.Write(buf[:n])
			v.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				break
			}
		}
		r.done <- cmd.Wait()
	}()
	return r
}

// wait returns the exit code, once the output is read to its end.
func (r *ttyRun) wait() int {
	select {
	case err := <-r.done:
		r.tty.Close()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(r.t, err)
		return 0
	case <-time.After(60 * time.Second):
		r.cmd.Process.Kill()
		r.t.Fatalf("modelfetch did not end; screen:\n%s", r.vt)
		return -1
	}
}

// frames checks every frame the display draws: one line per artifact in
// flight, none as wide as the terminal, names in one column (a long one
// shortened with "…"), and figures or a state in each.
type frames struct {
	names   []string
	n       int                 // frames checked
	most    int                 // the most bar lines in one frame
	seen    map[string]bool     // states and figures seen
	rates   []string            // rates shown
	skipTil time.Time           // frames drawn around a resize are not checked
	errs    []string            // what failed, with the screen
	barRow  func(string) string // the model a row names, or ""
}

var (
	figures = regexp.MustCompile(`^ *\d{1,3}% +([\d.]+ [kMG]?B)/([\d.]+ [kMG]?B)(?: +(-|[\d.]+ [kMG]?B/s))?(?: +ETA (-|\S+))?$`)
	rateRE  = regexp.MustCompile(`^(\d+\.\d [kMGT]B|\d+ B)/s$`)
)

func newFrames(names []string) *frames {
	f := &frames{names: names, seen: map[string]bool{}}
	f.barRow = func(row string) string {
		field, _, _ := strings.Cut(row, "  ")
		for _, n := range names {
			head, tail, short := strings.Cut(field, "…")
			if field == n || short && len(field) > 4 && strings.HasPrefix(n, head) && strings.HasSuffix(n, tail) {
				return n
			}
		}
		return ""
	}
	return f
}

func (f *frames) check(v *vt) {
	if time.Now().Before(f.skipTil) {
		return
	}
	screen := v.screen()
	done, joined := 0, strings.Join(screen, "") // a wrapped line joined again
	for _, name := range f.names {
		if strings.Contains(joined, "modelfetch: "+name+": installed ") {
			done++
		}
	}
	var bars []string
	for i := len(screen) - 1; i >= 0 && f.barRow(screen[i]) != ""; i-- {
		bars = append([]string{screen[i]}, bars...)
	}
	fail := func(format string, args ...any) {
		f.errs = append(f.errs, fmt.Sprintf(format, args...)+"\n"+v.String())
	}
	// Every artifact starts at once (--jobs 4), but a frame may come between
	// two starts: no more lines than artifacts in flight, each once.
	if len(bars) == 0 || len(bars) > len(f.names)-done {
		fail("%d bar lines, %d artifacts in flight", len(bars), len(f.names)-done)
	}
	seen := map[string]bool{}
	for _, row := range bars {
		if n := f.barRow(row); seen[n] {
			fail("two lines for %s", n)
		} else {
			seen[n] = true
		}
	}
	f.most = max(f.most, len(bars))
	nameW := 0
	for _, row := range bars {
		nameW = max(nameW, len([]rune(row[:max(strings.Index(row, "  "), 0)])))
	}
	for _, row := range bars {
		f.row(row, nameW, v.width, fail)
	}
	f.n++
}

func (f *frames) row(row string, nameW, width int, fail func(string, ...any)) {
	if n := len([]rune(row)); n >= width {
		fail("a line of %d columns in a terminal of %d: it wraps", n, width)
	}
	runes := []rune(row)
	if len(runes) < nameW {
		fail("a line shorter than the name column: %q", row)
		return
	}
	if strings.Contains(string(runes[:nameW]), "…") {
		f.seen["shortened"] = true
	}
	body, ok := strings.CutPrefix(string(runes[nameW:]), "  ")
	if !ok {
		fail("names are not aligned: %q", row)
		return
	}
	if strings.HasPrefix(body, "[") {
		_, body, _ = strings.Cut(body, "]  ")
	}
	if figures.MatchString(body) && strings.Index(body, "%") != 3 || !figures.MatchString(body) && strings.HasPrefix(body, " ") {
		fail("names are not aligned: %q", row)
		return
	}
	rest := body
	rest = strings.TrimSpace(rest)
	switch {
	case rest == "connecting":
		f.seen["connecting"] = true
	case strings.HasPrefix(rest, "decoding, ") && strings.HasSuffix(rest, " received"):
		f.seen["decoding"] = true
	case strings.HasPrefix(rest, "downloading, ") && strings.HasSuffix(rest, " received"):
		f.seen["downloading"] = true
	case figures.MatchString(rest):
		m := figures.FindStringSubmatch(rest)
		f.seen["bytes"] = true
		if m[3] != "" && m[3] != "-" {
			f.seen["rate"] = true
			f.rates = append(f.rates, m[3])
		}
		if m[4] != "" && m[4] != "-" {
			f.seen["eta"] = true
		}
	default:
		fail("neither figures nor a state: %q", rest)
	}
}

// TestProgressInATerminal runs fetch in a pseudo-terminal at 80 and 60
// columns and reads every frame of the display as a terminal shows it.
func TestProgressInATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs modelfetch in a terminal for seconds")
	}
	for _, width := range []int{80, 60} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			manifest, names := ttyJourney(t, 1)
			v := newVT(width)
			f := newFrames(names)
			v.onErase = func() { f.check(v) }
			r := startInTTY(t, width, manifest, v)
			require.Equal(t, 0, r.wait(), "%s", r.raw.String())
			for _, e := range f.errs {
				t.Error(e)
			}
			assert.Greater(t, f.n, 5, "frames drawn")
			assert.Equal(t, len(names), f.most, "a frame with every artifact")
			for _, s := range []string{"connecting", "decoding", "bytes", "rate", "eta", "shortened"} {
				assert.True(t, f.seen[s], "a frame shows %s", s)
			}
			for _, rate := range f.rates {
				assert.Regexp(t, rateRE, rate)
			}
			// The summary fits the terminal too: at 60 columns it leaves
			// out time and throughput rather than wrap.
			for _, row := range v.screen() {
				assert.Less(t, utf8.RuneCountInString(strings.TrimRight(row, " ")), width, "a line as wide as the terminal wraps: %q", row)
			}
			summary := summaryRates(t, r.raw.String())
			if width == 80 {
				require.Len(t, summary, 3, "%s", r.raw.String())
			} else {
				assert.Empty(t, summary, "%s", r.raw.String())
			}
			for _, rate := range summary {
				assert.Regexp(t, rateRE, rate, "the summary's throughput is in the bar's unit")
			}
			assertNoBarLeft(t, v)
		})
	}
}

// summaryRates are the throughput column of the summary table.
func summaryRates(t *testing.T, out string) []string {
	var rates []string
	_, table, ok := strings.Cut(out, "artifact ")
	require.True(t, ok, "a summary")
	for _, line := range strings.Split(table, "\n")[1:] {
		fields := strings.Fields(line)
		if len(fields) >= 2 && strings.HasSuffix(fields[len(fields)-1], "/s") {
			rates = append(rates, fields[len(fields)-2]+" "+fields[len(fields)-1])
		}
	}
	return rates
}

// assertNoBarLeft: once modelfetch has ended, nothing of a bar is left on
// the screen, not even a fragment at the start of a line.
func assertNoBarLeft(t *testing.T, v *vt) {
	for _, row := range v.screen() {
		for _, mark := range []string{"ETA ", "connecting", "decoding,", "% ", " received"} {
			assert.NotContains(t, row, mark, "a bar fragment is left:\n%s", v)
		}
	}
}

// A resize mid-run: the display follows the new width from the next frame,
// and what it drew before is erased, wrapped rows included.
func TestProgressFollowsAResize(t *testing.T) {
	if testing.Short() {
		t.Skip("runs modelfetch in a terminal for seconds")
	}
	manifest, names := ttyJourney(t, 2)
	v := newVT(80)
	f := newFrames(names)
	v.onErase = func() { f.check(v) }
	r := startInTTY(t, 80, manifest, v)
	time.Sleep(1500 * time.Millisecond)
	r.mu.Lock()
	checked := f.n
	require.NoError(t, pty.Setsize(r.tty, &pty.Winsize{Cols: 60, Rows: 40}))
	v.resize(60)
	f.skipTil = time.Now().Add(time.Second) // a frame already on its way is 80 wide
	r.mu.Unlock()
	require.Equal(t, 0, r.wait(), "%s", r.raw.String())
	for _, e := range f.errs {
		t.Error(e)
	}
	assert.Greater(t, checked, 3, "frames at 80 columns")
	assert.Greater(t, f.n-checked, 3, "frames at 60 columns")
	assertNoBarLeft(t, v)
}

// Ctrl-C: the interrupted downloads are not "retried", and the bars are
// erased before the error lines, leaving no fragment.
func TestInterruptInATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs modelfetch in a terminal for seconds")
	}
	manifest, names := ttyJourney(t, 10)
	v := newVT(80)
	f := newFrames(names)
	v.onErase = func() { f.check(v) }
	r := startInTTY(t, 80, manifest, v)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		started := f.seen["rate"]
		r.mu.Unlock()
		if started || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err := io.WriteString(r.tty, "\x03") // the terminal's interrupt key
	require.NoError(t, err)
	assert.Equal(t, 130, r.wait())
	out := r.raw.String()
	assert.NotContains(t, out, "retrying")
	assert.Contains(t, out, "modelfetch: error: interrupted (SIGINT): 3 of 3 artifacts not finished, none left half-written")
	assertNoBarLeft(t, v)
}
