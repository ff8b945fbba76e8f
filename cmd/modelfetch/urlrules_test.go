package main

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/djok/modelfetch/pkg/manifest"
	"github.com/djok/modelfetch/pkg/rules"
)

// TestReadmeRulesExample parses the README's rules file and applies it as
// the README says it works.
func TestReadmeRulesExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "```toml\n# /etc/modelfetch/rules.toml\n")
	require.True(t, ok, "README has the rules example")
	text, _, _ := strings.Cut(rest, "```")
	r, err := rules.Parse("rules.toml", []byte(text))
	require.NoError(t, err)

	m := &manifest.Model{Name: "codeformer"}
	for _, s := range []string{
		"https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
		"https://huggingface.co/org/repo/resolve/main/x.onnx",
		"http://dlib.net/files/shape_predictor_68_face_landmarks.dat.bz2",
		"https://example.org/elsewhere.bin",
	} {
		u, err := url.Parse(s)
		require.NoError(t, err)
		m.Sources = append(m.Sources, &manifest.Source{URL: s, Parsed: u})
	}
	p, err := r.Apply(m)
	require.NoError(t, err)
	var got []string
	for _, c := range p.Candidates {
		got = append(got, c.Source.URL)
	}
	assert.Equal(t, []string{
		"https://artifactory.example.com/artifactory/github/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
		"https://artifactory-dr.example.com/artifactory/github/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
		"https://artifactory.example.com/artifactory/api/huggingfaceml/hf/org/repo/resolve/main/x.onnx",
		"https://eu.mirror.example.com/dlib/shape_predictor_68_face_landmarks.dat.bz2",
	}, got)
	assert.Equal(t, []string{"https://old.mirror.example.com/dlib/shape_predictor_68_face_landmarks.dat.bz2", "https://example.org/elsewhere.bin"}, p.Blocked)
	hosts := map[string]string{}
	for _, hc := range r.HostCredentials() {
		hosts[hc.Scheme+"://"+hc.Host] = hc.Credential.Env
	}
	assert.Equal(t, map[string]string{"https://artifactory.example.com": "ARTIFACTORY_TOKEN", "https://artifactory-dr.example.com": "ARTIFACTORY_TOKEN"}, hosts)
}
