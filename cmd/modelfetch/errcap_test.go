package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/internal/display"
	"github.com/djok/modelfetch/pkg/lock"
	"github.com/djok/modelfetch/pkg/rules"
)

// 5,000 blocked models: the first 20 lines, then one counting the rest,
// the hint kept (before, 5,000 lines).
func TestManyErrorsAreCapped(t *testing.T) {
	var b rules.Blocked
	for i := range 5000 {
		b = append(b, &rules.BlockedError{Model: fmt.Sprintf("m%d", i), File: "r.toml"})
	}
	var buf bytes.Buffer
	(&display.UI{Stderr: &buf}).PrintError(&hinted{err: b, hint: "ask #infra"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 22, buf.String())
	assert.Contains(t, lines[19], "m19:")
	assert.Equal(t, "modelfetch: error: and 4,980 more problems", lines[20])
	assert.Equal(t, "modelfetch: hint: ask #infra", lines[21])
}

// lock --check on 3,200 unlocked models: 20 findings, one line counting
// the rest, and the hint (before, 6,401 lines).
func TestLockFindingsAreCapped(t *testing.T) {
	rep := &lock.Report{}
	for i := range 3200 {
		for _, key := range []string{"sha256", "size"} {
			rep.Findings = append(rep.Findings, lock.Finding{Model: fmt.Sprintf("m%d", i), Kind: lock.Incomplete, Key: key})
		}
	}
	var buf bytes.Buffer
	o := &lockOptions{manifest: "models.toml", check: true}
	err := o.finish(context.Background(), nil, nil, rep, &display.UI{Stderr: &buf}, env{})
	require.Error(t, err)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	assert.LessOrEqual(t, len(lines), 23, buf.String())
	assert.Contains(t, buf.String(), "modelfetch: error: and 6,380 more problems\n")
}
