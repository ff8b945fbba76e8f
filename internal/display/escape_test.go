package display

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/djok/modelfetch/pkg/fetch"
)

// Every line the command prints has its control characters escaped,
// whatever a server or a file put in the text it echoes.
func TestPrintedLinesEscapeControlCharacters(t *testing.T) {
	var buf bytes.Buffer
	u := &UI{Stderr: &buf}
	evil := "busy\x1b[2J\x1b]0;pwned\x07\rok"
	u.Errorf("%s", evil)
	u.Hintf("%s", evil)
	u.Warnf("%s", evil)
	u.Infof(false, "%s", evil)
	p := NewProgress(&buf, ModePlain, true)
	p.Start("m", 1000)
	se := &fetch.SourceError{Source: "https://h/m", Kind: fetch.KindNetwork, Err: errors.New(evil), Next: true}
	p.Retry("m", se, time.Millisecond)
	p.SourceFailed("m", se)
	p.Finish()
	out := buf.String()
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\x07")
	assert.NotContains(t, out, "\r")
	assert.Equal(t, 6, bytes.Count(buf.Bytes(), []byte(`busy\x1b[2J\x1b]0;pwned\x07\rok`)), out)
}
