package decompress

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// watchedInput is a slow input that counts reads in progress when it is
// closed, and reads begun after: the caller closes its input right after
// the decoder's Close returns, so both must stay zero.
type watchedInput struct {
	r      io.Reader
	delay  time.Duration
	inRead atomic.Int32
	closed atomic.Bool
	late   atomic.Int32
	buf    []byte // written by Read, cleared by Close: -race sees a late Read
}

func (w *watchedInput) Read(p []byte) (int, error) {
	w.inRead.Add(1)
	defer w.inRead.Add(-1)
	if w.closed.Load() {
		w.late.Add(1)
		return 0, io.ErrClosedPipe
	}
	time.Sleep(w.delay)
	n, err := w.r.Read(p[:min(len(p), 4096)])
	w.buf = append(w.buf[:0], p[:n]...)
	return n, err
}

func (w *watchedInput) Close() {
	if w.inRead.Load() > 0 {
		w.late.Add(1)
	}
	w.closed.Store(true)
	w.buf = nil
}

// Every decoder, stopped early (by the caller or by its context), has
// stopped reading its input when Close returns.
func TestCloseJoinsBeforeInputCloses(t *testing.T) {
	// Many streams: a decoder that reads ahead in the background is still
	// reading when the caller stops.
	one := payload(100_000, 31)
	for _, f := range allFormats {
		c := bytes.Repeat(compress(t, f, one), 30)
		for _, stop := range []string{"close", "cancel"} {
			t.Run(f.String()+"/"+stop, func(t *testing.T) {
				in := &watchedInput{r: bytes.NewReader(c), delay: time.Millisecond}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				r, err := Open(ctx, Auto, in, Options{Pool: NewPool(4)})
				require.NoError(t, err)
				_, err = io.ReadFull(r, make([]byte, 1000))
				require.NoError(t, err)
				if stop == "cancel" {
					cancel()
					_, err = io.Copy(io.Discard, r)
					require.ErrorIs(t, err, context.Canceled)
				}
				require.NoError(t, r.Close())
				in.Close()
				time.Sleep(50 * time.Millisecond)
				assert.Zero(t, in.late.Load(), "input read after the decoder's Close returned")
			})
		}
	}
}
