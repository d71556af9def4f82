package harness

import (
	"fmt"
	"strings"
	"time"
)

// Fixed identities of the benchmark and test configs. They are test
// fixtures, not secrets.
const (
	Secret   = "bench-messenger-secret-0123456789abcdef"
	AppID    = "bench0app"
	KeyID    = "BenchKey1"
	Issuer   = "https://bench.example.com"
	Audience = "https://login.salesforce.com"
)

// Case is one way of serving the pages that the benchmark compares.
type Case struct {
	Name       string        // a, b, c, d
	Label      string        // for the table
	Intercom   bool          // the intercom handler is in the route
	Salesforce bool          // it also signs a Salesforce token
	Reuse      time.Duration // Salesforce `reuse`; 0 signs on every page
	// Padded is a control: plain reverse_proxy of a page as much bigger
	// as (b)'s snippet makes it, to tell the cost of the extra bytes from
	// the cost of the handler's work.
	Padded bool
	// PolicyHeaders makes the padded page come from the upstream with the
	// response headers of an injected page (PolicyHeaders) instead of its
	// validators: plain reverse_proxy relaying a response shaped exactly like
	// (b)'s, the cost of what issue 13's page policy and the snippet's bytes
	// require, with none of the handler's work.
	PolicyHeaders bool
}

// Cases are the benchmark's cases, (a) being the baseline.
var Cases = []Case{
	{Name: "a", Label: "reverse_proxy"},
	{Name: "a+", Label: "reverse_proxy, page + snippet size", Padded: true},
	{Name: "a++", Label: "reverse_proxy of (b)'s response shape: page + snippet size, page-policy headers from the upstream", Padded: true, PolicyHeaders: true},
	{Name: "b", Label: "intercom HS256", Intercom: true},
	{Name: "c", Label: "+ Salesforce RS256", Intercom: true, Salesforce: true},
	{Name: "d", Label: "+ Salesforce reuse 5m", Intercom: true, Salesforce: true, Reuse: 5 * time.Minute},
}

// CaseByName returns the case called name.
func CaseByName(name string) (Case, bool) {
	for _, c := range Cases {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// Site describes one site block: a listener on Port proxying to Upstream,
// with the intercom handler as Case says.
type Site struct {
	Port     int
	Upstream string // host:port
	Case     Case
	// KeyFile is the PEM file of the Salesforce key (Salesforce cases).
	KeyFile string
	// Transport is the body of reverse_proxy's `transport http { … }`
	// block; "" means Caddy's defaults.
	Transport string
	// Intercom holds extra lines for the intercom block.
	Intercom string
	// Directives holds extra lines for the site block (e.g. a `header`
	// that names the instance of a fleet).
	Directives string
}

// Caddyfile returns the site block. Identity comes from the X-User header,
// honoured from 127.0.0.1 only.
func (s Site) Caddyfile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "http://:%d {\n\tbind 127.0.0.1\n", s.Port)
	if s.Directives != "" {
		fmt.Fprintf(&b, "\t%s\n", strings.ReplaceAll(strings.TrimSpace(s.Directives), "\n", "\n\t"))
	}
	if s.Case.Intercom {
		fmt.Fprintf(&b, "\tintercom {\n\t\tapp_id %s\n\t\tsecret %s\n\t\tuser_id {http.request.header.%s}\n\t\ttrust 127.0.0.1\n",
			AppID, Secret, UserHeader)
		if s.Intercom != "" {
			fmt.Fprintf(&b, "\t\t%s\n", s.Intercom)
		}
		if s.Case.Salesforce {
			fmt.Fprintf(&b, "\t\tsalesforce {\n\t\t\tprivate_key {file.%s}\n\t\t\tkey_id %s\n\t\t\tissuer %s\n\t\t\taudience %s\n",
				s.KeyFile, KeyID, Issuer, Audience)
			if s.Case.Reuse > 0 {
				fmt.Fprintf(&b, "\t\t\treuse %s\n", s.Case.Reuse)
			}
			b.WriteString("\t\t}\n")
		}
		b.WriteString("\t}\n")
	}
	fmt.Fprintf(&b, "\treverse_proxy %s", s.Upstream)
	if s.Transport != "" {
		fmt.Fprintf(&b, " {\n\t\ttransport http {\n\t\t\t%s\n\t\t}\n\t}", strings.ReplaceAll(strings.TrimSpace(s.Transport), "\n", "\n\t\t\t"))
	}
	b.WriteString("\n}\n")
	return b.String()
}
