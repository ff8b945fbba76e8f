// Package credentials decides which Authorization header a request gets: the
// credential policy of modelfetch, in one place. It reads nothing itself; the
// caller passes the netrc text, the token and the hosts the manifest names.
//
// The rules (docs/DESIGN.md, README "Environment"):
//   - HF_TOKEN goes as a bearer token to the model hub (huggingface.co, hf.co)
//     over https, and nowhere else.
//   - A netrc `machine` entry keeps netrc's meaning: that host, any port.
//   - The netrc `default` entry matches any host, so it is narrowed: only over
//     https, and only to a host some source URL of the manifest names, unless
//     the user opts in to every host (DefaultAnyHost); never over plain http.
//   - A url rule's credential (Rules) goes to the hosts of that rule's URLs,
//     over their scheme, and nowhere else; those hosts get no other
//     credential (a proxy token never reaches the origin, nor the origin's
//     token the proxy).
package credentials

import (
	"net/http"
	"strings"

	"github.com/djok/modelfetch/internal/netrc"
)

// hubHosts receive HF_TOKEN.
var hubHosts = map[string]bool{"huggingface.co": true, "hf.co": true}

// Policy is what the credentials are chosen from.
type Policy struct {
	// Netrc is the text of ~/.netrc (or $NETRC); "" for none.
	Netrc string
	// HFToken is the model hub's token; "" for none.
	HFToken string
	// Hosts are the host names the manifest's source URLs name; the netrc
	// default entry is used only for these.
	Hosts []string
	// DefaultAnyHost lets the netrc default entry go to any https host,
	// redirect targets included.
	DefaultAnyHost bool
	// Rules are the credentials of the url rules, by host.
	Rules []HostRule
}

// HostRule is the credential a url rule gives to one scheme and host.
type HostRule struct {
	Scheme, Host string // Host without port
	// Authorization is the header value; "" sends none (the rule's
	// reference was not resolved), and the host still gets no other.
	Authorization string
}

// Func returns the credential lookup for a request's scheme and host name
// (lower case, without port); it has the type of fetch.Credentials. It
// returns "" when no credential applies.
func (p Policy) Func() func(scheme, host string) string {
	entries := netrc.Parse(p.Netrc)
	named := map[string]bool{}
	for _, h := range p.Hosts {
		named[strings.ToLower(h)] = true
	}
	token, anyHost := p.HFToken, p.DefaultAnyHost
	rules := map[string]map[string]string{} // host -> scheme -> value
	for _, r := range p.Rules {
		h := strings.ToLower(r.Host)
		if rules[h] == nil {
			rules[h] = map[string]string{}
		}
		rules[h][strings.ToLower(r.Scheme)] = r.Authorization
	}
	return func(scheme, host string) string {
		host = strings.ToLower(host)
		if byScheme, ok := rules[host]; ok {
			return byScheme[scheme]
		}
		if token != "" && scheme == "https" && hubHosts[host] {
			return "Bearer " + token
		}
		e, ok := netrc.Find(entries, host)
		if !ok || e.Login == "" {
			return ""
		}
		if e.Machine == "" && (scheme != "https" || !(anyHost || named[host])) {
			return ""
		}
		return basic(e.Login, e.Password)
	}
}

func basic(user, password string) string {
	r := http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

// Bearer is the Authorization value of a bearer token.
func Bearer(token string) string { return "Bearer " + token }

// NetrcMachine returns the basic Authorization value of the netrc entry
// for exactly machine (never the default entry); false when there is none
// with a login.
func NetrcMachine(text, machine string) (string, bool) {
	for _, e := range netrc.Parse(text) {
		if e.Machine != "" && e.Machine == strings.ToLower(machine) && e.Login != "" {
			return basic(e.Login, e.Password), true
		}
	}
	return "", false
}
