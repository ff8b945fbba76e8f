//go:build unix

package mirror

import (
	"context"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A helper that answers in full and exits 0, but leaves a detached child
// holding its output open: the answer is taken (before, the lookup failed
// with "could not be run: exec: WaitDelay expired before I/O complete").
// One that leaves such a child and no complete answer says so precisely.
func TestCredentialHelperLeavingAChild(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	helperScript(t, "linger", `setsid sleep 3 &
printf '{"Username":"u","Secret":"s3cret"}'`)
	c, err := DockerCredentials(writeConfig(t, t.TempDir(), `{"credHelpers":{"reg.example":"linger"}}`))(context.Background(), "reg.example")
	require.NoError(t, err)
	assert.Equal(t, "u", c.Username)
	assert.Equal(t, "s3cret", c.Password)

	helperScript(t, "half", `setsid sleep 3 &
printf '{"Username":"u","Sec'`)
	_, err = DockerCredentials(writeConfig(t, t.TempDir(), `{"credHelpers":{"reg.example":"half"}}`))(context.Background(), "reg.example")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "credential helper docker-credential-half: its answer is not the JSON of a credential (it exited, leaving a process that holds its output open)")
	assert.NotContains(t, err.Error(), "WaitDelay")
}
