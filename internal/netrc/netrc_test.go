package netrc

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseAndFind(t *testing.T) {
	es := Parse("# comment\nmachine Example.com login alice password s3cret\n\nmacdef init\ncd /x\nmachine evil password no\n\ndefault login anon password guest\n")
	e, ok := Find(es, "example.com")
	assert.True(t, ok)
	assert.Equal(t, Entry{Machine: "example.com", Login: "alice", Password: "s3cret"}, e)
	e, ok = Find(es, "other.org")
	assert.True(t, ok)
	assert.Equal(t, "anon", e.Login)
	_, ok = Find(es, "evil")
	assert.True(t, ok, "falls back to default")
	e, _ = Find(es, "evil")
	assert.Equal(t, "", e.Machine, "the macdef body is not an entry")
	_, ok = Find(Parse("machine a login b password c"), "z")
	assert.False(t, ok)
}
