package fetch

import (
	"context"
	"errors"
	"io"
)

// stream is a source read once from front to back under the retry policy:
// a fault mid-body is retried and the rest resumed from the offset reached,
// inside Read. What Read returns is the next bytes, io.EOF at the end the
// source reported, errRestart (the source can only start over: call rewind
// and read from byte 0 again), or a final error.
type stream struct {
	ctx    context.Context
	src    source
	rt     *retrier
	expect int64 // served length the manifest declares; -1 unknown

	off     int64
	cur     *body
	next    *body // a body from byte 0 that came while resuming: the next pass reads it
	pending error // a fault to handle after the bytes returned with it
	final   error
	ended   bool  // Read returned io.EOF: the source ended cleanly
	fault   error // the last fault, reported instead of errRestart
}

// expectLen declares the served length when the source does not (a clean
// end short of it is a short file). n < 0 is ignored.
func (s *stream) expectLen(n int64) {
	if n >= 0 && s.expect < 0 {
		s.expect = n
	}
}

// rewind starts again at byte 0. fresh refuses a body kept from the last
// pass: the next pass asks the source again.
func (s *stream) rewind(fresh bool) {
	s.off, s.pending, s.final, s.ended = 0, nil, nil, false
	s.closeCur()
	if fresh && s.next != nil {
		s.next.Close()
		s.next = nil
	}
}

func (s *stream) closeCur() {
	if s.cur != nil {
		s.cur.Close()
		s.cur = nil
	}
}

// Close closes what is open. Bodies join their own goroutines on Close
// (parallel), so nothing reads the network after it returns.
func (s *stream) Close() error {
	s.closeCur()
	if s.next != nil {
		s.next.Close()
		s.next = nil
	}
	return nil
}

func (s *stream) Read(p []byte) (int, error) {
	for {
		if s.final != nil {
			return 0, s.final
		}
		if err := s.pending; err != nil {
			s.pending = nil
			if err := s.retry(err); err != nil {
				return 0, err
			}
			continue
		}
		if s.cur == nil {
			if err := s.open(); err != nil {
				return 0, err
			}
			if s.cur == nil {
				continue
			}
		}
		n, err := s.cur.Read(p)
		s.off += int64(n)
		if n > 0 {
			s.rt.progress(s.off)
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF:
			s.closeCur()
			s.ended = true
			return n, io.EOF
		case s.cur.final:
			s.closeCur()
			if errors.Is(err, errNoRanges) {
				err = errRestart // the next pass runs on one connection
			}
			if !errors.Is(err, errRestart) {
				s.final = err
			}
			return n, err
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = &TruncatedError{Got: s.off, Want: s.cur.total}
		}
		s.closeCur()
		if n > 0 {
			s.pending = err
			return n, nil
		}
		if err := s.retry(err); err != nil {
			return 0, err
		}
	}
}

// open opens the source at the offset reached. A body from byte 0 although
// bytes were read already is kept for the next pass, and errRestart
// returned. It returns nil with s.cur nil to try again.
func (s *stream) open() error {
	var b *body
	if s.next != nil && s.off == 0 {
		b, s.next = s.next, nil
	} else {
		var err error
		b, err = s.src.open(s.ctx, s.off)
		if errors.Is(err, errRestart) && s.off > 0 {
			return errRestart
		}
		if err != nil {
			return s.retry(err)
		}
	}
	if b.start != s.off {
		if b.start != 0 {
			b.Close()
			return s.retry(errNoRanges)
		}
		s.next = b
		return errRestart
	}
	s.cur = b
	return nil
}

// retry spends a try on err; nil means go on, else the final error.
func (s *stream) retry(err error) error {
	s.fault = err
	if werr := s.rt.wait(s.ctx, err); werr != nil {
		if s.ctx.Err() != nil {
			werr = s.ctx.Err()
		}
		s.final = werr
		return werr
	}
	return nil
}
