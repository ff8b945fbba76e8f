package credentials

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

const (
	alice = "Basic YWxpY2U6czNjcmV0" // alice:s3cret
	anon  = "Basic YW5vbjpndWVzdA==" // anon:guest
)

func TestPolicy(t *testing.T) {
	withDefault := "machine models.example.com login alice password s3cret\ndefault login anon password guest\n"
	withRule := Policy{Netrc: withDefault, HFToken: "hf_abc", DefaultAnyHost: true, Rules: []HostRule{
		{Scheme: "https", Host: "proxy.example.com", Authorization: "Bearer p"},
		{Scheme: "http", Host: "plain.example.com", Authorization: "Bearer p"},
		{Scheme: "https", Host: "models.example.com", Authorization: "Basic bm90OmhlcmU="},
	}}
	tests := []struct {
		name   string
		policy Policy
		scheme string
		host   string
		want   string
	}{
		{name: "named machine over https", policy: Policy{Netrc: withDefault}, scheme: "https", host: "models.example.com", want: alice},
		{name: "named machine over http keeps netrc's meaning", policy: Policy{Netrc: withDefault}, scheme: "http", host: "models.example.com", want: alice},
		{name: "named machine, host case", policy: Policy{Netrc: withDefault}, scheme: "https", host: "Models.Example.COM", want: alice},
		{name: "no entry, no default", policy: Policy{Netrc: "machine a.org login alice password s3cret"}, scheme: "https", host: "b.org", want: ""},
		{name: "default for a manifest host over https", policy: Policy{Netrc: withDefault, Hosts: []string{"mirror.example.org"}}, scheme: "https", host: "mirror.example.org", want: anon},
		{name: "manifest hosts compare without case", policy: Policy{Netrc: withDefault, Hosts: []string{"Mirror.Example.org"}}, scheme: "https", host: "mirror.example.org", want: anon},
		{name: "default never over plain http", policy: Policy{Netrc: withDefault, Hosts: []string{"dlib.net"}}, scheme: "http", host: "dlib.net", want: ""},
		{name: "default not for a host the manifest does not name (a redirect target)", policy: Policy{Netrc: withDefault, Hosts: []string{"mirror.example.org"}}, scheme: "https", host: "cdn.elsewhere.net", want: ""},
		{name: "default for any https host when opted in", policy: Policy{Netrc: withDefault, DefaultAnyHost: true}, scheme: "https", host: "cdn.elsewhere.net", want: anon},
		{name: "opting in still never sends the default over http", policy: Policy{Netrc: withDefault, DefaultAnyHost: true}, scheme: "http", host: "cdn.elsewhere.net", want: ""},
		{name: "an entry without login sends nothing", policy: Policy{Netrc: "machine a.org password x"}, scheme: "https", host: "a.org", want: ""},
		{name: "hub token to huggingface.co", policy: Policy{HFToken: "hf_abc"}, scheme: "https", host: "huggingface.co", want: "Bearer hf_abc"},
		{name: "hub token to hf.co", policy: Policy{HFToken: "hf_abc"}, scheme: "https", host: "hf.co", want: "Bearer hf_abc"},
		{name: "hub token never over http", policy: Policy{HFToken: "hf_abc"}, scheme: "http", host: "huggingface.co", want: ""},
		{name: "hub token not to the hub's CDN", policy: Policy{HFToken: "hf_abc"}, scheme: "https", host: "cdn-lfs.huggingface.co", want: ""},
		{name: "hub token before a netrc entry for the hub", policy: Policy{HFToken: "hf_abc", Netrc: "machine huggingface.co login alice password s3cret"}, scheme: "https", host: "huggingface.co", want: "Bearer hf_abc"},
		{name: "no token: the netrc entry for the hub", policy: Policy{Netrc: "machine huggingface.co login alice password s3cret"}, scheme: "https", host: "huggingface.co", want: alice},
		{name: "nothing configured", policy: Policy{}, scheme: "https", host: "huggingface.co", want: ""},
		{name: "a rule's token to its host", policy: withRule, scheme: "https", host: "Proxy.example.com", want: "Bearer p"},
		{name: "a rule's token over plain http when its url says so", policy: withRule, scheme: "http", host: "plain.example.com", want: "Bearer p"},
		{name: "a rule's token not over a scheme its urls do not name", policy: withRule, scheme: "http", host: "proxy.example.com", want: ""},
		{name: "a rule's token not to the origin, which keeps its own", policy: withRule, scheme: "https", host: "github.com", want: anon},
		{name: "the origin's token not to the rule's host", policy: Policy{HFToken: "hf_abc", Rules: []HostRule{{Scheme: "https", Host: "huggingface.co", Authorization: ""}}}, scheme: "https", host: "huggingface.co", want: ""},
		{name: "no netrc entry or default to the rule's host", policy: withRule, scheme: "https", host: "models.example.com", want: "Basic bm90OmhlcmU="},
		{name: "the hub token still to the hub", policy: withRule, scheme: "https", host: "hf.co", want: "Bearer hf_abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.policy.Func()(tt.scheme, tt.host))
		})
	}
}

func TestNetrcMachine(t *testing.T) {
	text := "machine proxy.example.com login alice password s3cret\ndefault login anon password guest\n"
	v, ok := NetrcMachine(text, "Proxy.example.com")
	assert.True(t, ok)
	assert.Equal(t, alice, v)
	_, ok = NetrcMachine(text, "other.example.com")
	assert.False(t, ok, "never the default entry")
	assert.Equal(t, "Bearer t", Bearer("t"))
}
