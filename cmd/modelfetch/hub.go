package main

// The Hugging Face Hub's environment (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE),
// read as huggingface_hub reads it.

import (
	"net/url"
	"slices"
	"strings"

	"github.com/djok/modelfetch/internal/redact"
	"github.com/djok/modelfetch/pkg/fetch"
)

// loadHub sets where hf:// sources are read from, and HF_HUB_OFFLINE's
// --offline.
func (o *netOptions) loadHub(env env) error {
	o.hub = fetch.HubOptions{Token: env.HFToken}
	if env.HFEndpoint != "" {
		u, err := url.Parse(env.HFEndpoint)
		if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return usagef("HF_ENDPOINT=%s: want an http(s) URL such as https://huggingface.co", redact.String(env.HFEndpoint))
		}
		if u.User != nil {
			return usagef("HF_ENDPOINT=%s: credentials in the URL are not sent; use HF_TOKEN", redact.String(env.HFEndpoint))
		}
		o.hub.Endpoint = u
	}
	if isTrue(env.HFHubOffline) {
		o.offline = true
	}
	return nil
}

// isTrue reads a boolean variable as huggingface_hub does: 1, ON, YES or
// TRUE in any case.
func isTrue(v string) bool {
	return slices.Contains([]string{"1", "ON", "YES", "TRUE"}, strings.ToUpper(strings.TrimSpace(v)))
}
