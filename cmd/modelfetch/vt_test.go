package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// vt is the little of a terminal the progress display relies on: text,
// carriage return, line feed, cursor up, erase line and erase below, with
// automatic wrap at the right margin, and a resize that reflows lines as
// tmux, VTE and iTerm2 do. It remembers what a real terminal would show,
// so a test can read the screen after every frame, and it counts every
// wrap: a line that wraps leaves its start behind on each redraw.
type vt struct {
	width   int
	rows    [][]rune
	r, c    int
	wraps   int
	unknown []string // escape sequences it does not know: the renderer must not send them
	// onErase is called before the first cursor-up of an erase (a run of
	// cursor-up and erase-line): the screen then holds a whole frame.
	onErase func()
	esc     []byte
	pending []byte // an incomplete UTF-8 sequence
	lastUp  bool   // the last operation was part of an erase
}

func newVT(width int) *vt { return &vt{width: width, rows: [][]rune{nil}} }

func (v *vt) Write(b []byte) (int, error) {
	for _, ch := range b {
		v.byte(ch)
	}
	return len(b), nil
}

func (v *vt) byte(ch byte) {
	switch {
	case v.esc != nil:
		v.esc = append(v.esc, ch)
		if len(v.esc) == 1 && ch != '[' {
			v.unknown = append(v.unknown, string(v.esc))
			v.esc = nil
		} else if len(v.esc) > 1 && ch >= 0x40 && ch <= 0x7e {
			v.csi(string(v.esc[1:len(v.esc)-1]), ch)
			v.esc = nil
		}
	case ch == 0x1b:
		v.esc = []byte{}
	case ch == '\r':
		v.c = 0
	case ch == '\n':
		v.lastUp = false
		v.down()
	case ch == '\b':
		v.c = max(v.c-1, 0)
	case ch < 0x20:
	default:
		v.pending = append(v.pending, ch)
		if utf8.FullRune(v.pending) {
			r, _ := utf8.DecodeRune(v.pending)
			v.pending = v.pending[:0]
			v.put(r)
		}
	}
}

func (v *vt) csi(arg string, final byte) {
	n := 1
	if arg != "" {
		var err error
		if n, err = strconv.Atoi(arg); err != nil && final != 'K' && final != 'J' {
			v.unknown = append(v.unknown, "["+arg+string(final))
			return
		}
	}
	switch final {
	case 'A':
		if !v.lastUp && v.onErase != nil {
			v.onErase()
		}
		v.lastUp = true
		v.r = max(v.r-n, 0)
		return
	case 'K':
		if arg == "2" {
			v.rows[v.r] = nil
			return // part of an erase run
		}
		if v.c < len(v.rows[v.r]) {
			v.rows[v.r] = v.rows[v.r][:v.c]
		}
	case 'J':
		if v.c < len(v.rows[v.r]) {
			v.rows[v.r] = v.rows[v.r][:v.c]
		}
		v.rows = v.rows[:v.r+1]
	default:
		v.unknown = append(v.unknown, "["+arg+string(final))
	}
	v.lastUp = false
}

func (v *vt) down() {
	v.r++
	for len(v.rows) <= v.r {
		v.rows = append(v.rows, nil)
	}
}

func (v *vt) put(ch rune) {
	v.lastUp = false
	if v.c >= v.width {
		v.wraps++
		v.down()
		v.c = 0
	}
	row := v.rows[v.r]
	for len(row) <= v.c {
		row = append(row, ' ')
	}
	row[v.c] = ch
	v.rows[v.r] = row
	v.c++
}

// resize reflows every row to the new width; the cursor keeps its place in
// the text, so it is as many rows below the lines above it as they now take.
func (v *vt) resize(width int) {
	var rows [][]rune
	cr := 0
	for i, row := range v.rows {
		if i == v.r {
			cr = len(rows) + min(v.c, max(len(row)-1, 0))/width
		}
		if len(row) == 0 {
			rows = append(rows, nil)
			continue
		}
		for len(row) > width {
			rows = append(rows, row[:width:width])
			row = row[width:]
		}
		rows = append(rows, row)
	}
	v.rows, v.r, v.width = rows, cr, width
	v.c = min(v.c, width)
}

// screen is the text above the cursor and on its row, each row trimmed.
func (v *vt) screen() []string {
	var out []string
	for i := 0; i <= v.r && i < len(v.rows); i++ {
		out = append(out, strings.TrimRight(string(v.rows[i]), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

func (v *vt) String() string {
	return fmt.Sprintf("%d columns, cursor %d,%d:\n%s", v.width, v.r, v.c, strings.Join(v.screen(), "\n"))
}
