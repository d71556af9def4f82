package helpcenter

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestHelpCenterSettings(t *testing.T) {
	tests := []struct {
		name      string
		hc        HelpCenter
		origin    string
		appDomain string
		appSite   string
		all       bool
	}{
		{"region us", HelpCenter{Region: "us", AppDomain: "app.example.com"},
			"https://custom.intercom.help", "app.example.com", "example.com", false},
		{"region eu", HelpCenter{Region: "eu", AppDomain: "app.example.com"},
			"https://custom.eu.intercom.help", "app.example.com", "example.com", false},
		{"region au", HelpCenter{Region: "au", AppDomain: "app.example.com.au"},
			"https://custom.au.intercom.help", "app.example.com.au", "example.com.au", false},
		{"origin overrides region", HelpCenter{Region: "eu", Origin: "https://eu.intercomhelpcenter.com", AppDomain: "app.example.com"},
			"https://eu.intercomhelpcenter.com", "app.example.com", "example.com", false},
		{"origin trailing slash dropped", HelpCenter{Origin: "https://custom.intercom.help/", AppDomain: "app.example.com"},
			"https://custom.intercom.help", "app.example.com", "example.com", false},
		{"http origin with port", HelpCenter{Origin: "http://egress.internal:8080", AppDomain: "app.example.com"},
			"http://egress.internal:8080", "app.example.com", "example.com", false},
		{"forward all", HelpCenter{Region: "us", AppDomain: "app.example.com", ForwardCookies: "all"},
			"https://custom.intercom.help", "app.example.com", "example.com", true},
		{"forward intercom explicit", HelpCenter{Region: "us", AppDomain: "app.example.com", ForwardCookies: "intercom"},
			"https://custom.intercom.help", "app.example.com", "example.com", false},
		{"app_domain normalised", HelpCenter{Region: "us", AppDomain: "App.Example.CO.UK."},
			"https://custom.intercom.help", "app.example.co.uk", "example.co.uk", false},
		{"app_domain is the registrable domain", HelpCenter{Region: "us", AppDomain: "example.com"},
			"https://custom.intercom.help", "example.com", "example.com", false},
		{"app_domain under a private suffix", HelpCenter{Region: "us", AppDomain: "myapp.github.io"},
			"https://custom.intercom.help", "myapp.github.io", "myapp.github.io", false},
		{"app_domain IDN to punycode", HelpCenter{Region: "us", AppDomain: "app.bücher.de"},
			"https://custom.intercom.help", "app.xn--bcher-kva.de", "xn--bcher-kva.de", false},
		{"origin_ca with https origin", HelpCenter{Origin: "https://localhost:8443", AppDomain: "app.example.com", OriginCA: "/ca.pem"},
			"https://localhost:8443", "app.example.com", "example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.hc.settings()
			if err != nil {
				t.Fatalf("settings: %v", err)
			}
			if got := s.origin.String(); got != tt.origin {
				t.Errorf("origin = %q, want %q", got, tt.origin)
			}
			if s.appDomain != tt.appDomain || s.appSite != tt.appSite {
				t.Errorf("app domain = %q (site %q), want %q (site %q)", s.appDomain, s.appSite, tt.appDomain, tt.appSite)
			}
			if s.forwardAll != tt.all {
				t.Errorf("forwardAll = %v, want %v", s.forwardAll, tt.all)
			}
		})
	}
}

// configErrors are configurations that must be refused, with a
// fragment of the message (which names the sub-directive).
var configErrors = []struct {
	name string
	hc   HelpCenter
	want string
}{
	{"no region or origin", HelpCenter{AppDomain: "app.example.com"}, "region or origin is required"},
	{"unknown region", HelpCenter{Region: "mars", AppDomain: "app.example.com"}, `region: unknown region "mars": want us, eu or au`},
	{"region upper case", HelpCenter{Region: "EU", AppDomain: "app.example.com"}, `region: unknown region "EU"`},
	{"unknown region with origin", HelpCenter{Region: "mars", Origin: "https://x.example", AppDomain: "app.example.com"}, `region: unknown region "mars"`},
	{"origin scheme", HelpCenter{Origin: "ftp://custom.intercom.help", AppDomain: "app.example.com"}, `origin: "ftp://custom.intercom.help" must start with https://`},
	{"origin without scheme", HelpCenter{Origin: "custom.intercom.help", AppDomain: "app.example.com"}, `origin: "custom.intercom.help" must start with https://`},
	{"origin host missing", HelpCenter{Origin: "https://", AppDomain: "app.example.com"}, `origin: "https://" has no host name`},
	{"origin port only", HelpCenter{Origin: "https://:443", AppDomain: "app.example.com"}, `origin: "https://:443" has no host name`},
	{"origin path", HelpCenter{Origin: "https://custom.intercom.help/hc", AppDomain: "app.example.com"}, "without path, query or fragment"},
	{"origin query", HelpCenter{Origin: "https://custom.intercom.help?x=1", AppDomain: "app.example.com"}, "without path, query or fragment"},
	{"origin empty query", HelpCenter{Origin: "https://custom.intercom.help/?", AppDomain: "app.example.com"}, "without path, query or fragment"},
	{"origin fragment", HelpCenter{Origin: "https://custom.intercom.help#x", AppDomain: "app.example.com"}, "without path, query or fragment"},
	{"origin user info", HelpCenter{Origin: "https://u:p@custom.intercom.help", AppDomain: "app.example.com"}, "must not contain user information"},
	{"origin unparsable", HelpCenter{Origin: "https://custom intercom.help", AppDomain: "app.example.com"}, "origin: \"https://custom intercom.help\" is not a valid URL"},
	{"origin port zero", HelpCenter{Origin: "https://custom.intercom.help:0", AppDomain: "app.example.com"}, "has an invalid port"},
	{"origin port too big", HelpCenter{Origin: "https://custom.intercom.help:70000", AppDomain: "app.example.com"}, "has an invalid port"},
	{"app_domain missing", HelpCenter{Region: "us"}, "app_domain is required"},
	{"app_domain public suffix co.uk", HelpCenter{Region: "us", AppDomain: "co.uk"}, `app_domain: "co.uk" is a public suffix`},
	{"app_domain public suffix github.io", HelpCenter{Region: "us", AppDomain: "github.io"}, `app_domain: "github.io" is a public suffix`},
	{"app_domain TLD", HelpCenter{Region: "us", AppDomain: "com"}, `app_domain: "com" is a public suffix`},
	{"app_domain single label", HelpCenter{Region: "us", AppDomain: "localhost"}, `app_domain: "localhost" is a public suffix`},
	{"app_domain URL", HelpCenter{Region: "us", AppDomain: "https://app.example.com"}, `app_domain: "https://app.example.com" is not a host name`},
	{"app_domain with port", HelpCenter{Region: "us", AppDomain: "app.example.com:443"}, "is not a host name"},
	{"app_domain with path", HelpCenter{Region: "us", AppDomain: "app.example.com/x"}, "is not a host name"},
	{"app_domain IPv4", HelpCenter{Region: "us", AppDomain: "192.0.2.1"}, "an IP address cannot share cookies"},
	{"app_domain empty label", HelpCenter{Region: "us", AppDomain: "app..example.com"}, "is not a host name"},
	{"app_domain underscore", HelpCenter{Region: "us", AppDomain: "my_app.example.com"}, "is not a host name"},
	{"app_domain leading hyphen", HelpCenter{Region: "us", AppDomain: "-app.example.com"}, "is not a host name"},
	{"app_domain long label", HelpCenter{Region: "us", AppDomain: strings.Repeat("a", 64) + ".example.com"}, "is not a host name"},
	{"forward_cookies unknown", HelpCenter{Region: "us", AppDomain: "app.example.com", ForwardCookies: "none"}, `forward_cookies: unknown value "none": want intercom`},
	{"forward_cookies case", HelpCenter{Region: "us", AppDomain: "app.example.com", ForwardCookies: "All"}, `forward_cookies: unknown value "All"`},
	{"strip_headers wildcard", HelpCenter{Region: "us", AppDomain: "app.example.com", StripHeaders: []string{"X-Auth-*"}}, `strip_headers: "X-Auth-*" is not a header name`},
	{"strip_headers empty name", HelpCenter{Region: "us", AppDomain: "app.example.com", StripHeaders: []string{""}}, `strip_headers: "" is not a header name`},
	{"strip_headers Host", HelpCenter{Region: "us", AppDomain: "app.example.com", StripHeaders: []string{"Remote-User", "HOST"}}, "strip_headers: Host cannot be stripped"},
	{"origin_ca with http origin", HelpCenter{Origin: "http://localhost:8080", AppDomain: "app.example.com", OriginCA: "/ca.pem"}, "origin_ca: only applies to an https:// origin"},
}

func TestHelpCenterValidateRejects(t *testing.T) {
	for _, tt := range configErrors {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.hc.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestHelpCenterProvisionRejects checks that Provision refuses what Validate
// refuses (Caddy calls Provision first) and also checks the origin_ca file.
func TestHelpCenterProvisionRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noCert := write("key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	badCert := write("bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	missing := filepath.Join(dir, "missing.pem")

	type tc struct {
		name string
		hc   HelpCenter
		want string
	}
	tests := []tc{
		{"origin_ca missing file", HelpCenter{Origin: "https://localhost:8443", AppDomain: "app.example.com", OriginCA: missing}, "origin_ca: open " + missing},
		{"origin_ca without certificate", HelpCenter{Origin: "https://localhost:8443", AppDomain: "app.example.com", OriginCA: noCert}, "origin_ca: " + noCert + " contains no PEM CERTIFICATE block"},
		{"origin_ca bad certificate", HelpCenter{Origin: "https://localhost:8443", AppDomain: "app.example.com", OriginCA: badCert}, "origin_ca: " + badCert + ": x509"},
	}
	for _, e := range configErrors {
		tests = append(tests, tc(e))
	}

	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := tt.hc
			err := hc.Provision(ctx)
			if err == nil {
				t.Fatalf("Provision() = nil, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Provision() = %q, want it to contain %q", err, tt.want)
			}
			if hc.proxy != nil {
				t.Error("a proxy was built for a refused configuration")
			}
		})
	}
}

func TestHelpCenterUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    HelpCenter
		wantErr string
	}{
		{
			name: "all settings",
			input: `intercom_help_center {
				region          eu
				origin          https://eu.intercomhelpcenter.com
				app_domain      app.example.com
				forward_cookies all
				origin_ca       /etc/ssl/private-ca.pem
			}`,
			want: HelpCenter{Region: "eu", Origin: "https://eu.intercomhelpcenter.com", AppDomain: "app.example.com", ForwardCookies: "all", OriginCA: "/etc/ssl/private-ca.pem"},
		},
		{
			name: "minimal",
			input: `intercom_help_center {
				region us
				app_domain app.example.com
			}`,
			want: HelpCenter{Region: "us", AppDomain: "app.example.com"},
		},
		{
			name:    "no block",
			input:   `intercom_help_center`,
			wantErr: "region or origin is required: region us, eu or au selects Intercom's custom-domain origin for your workspace's data-hosting region, at Testfile:1",
		},
		{
			name:    "argument on directive",
			input:   `intercom_help_center us`,
			wantErr: "takes no arguments other than a matcher",
		},
		{
			name: "unknown subdirective",
			input: `intercom_help_center {
				region us
				cookies all
			}`,
			wantErr: `unrecognized subdirective "cookies": want region, origin, app_domain, forward_cookies, origin_ca or strip_headers, at Testfile:3`,
		},
		{
			name: "missing value",
			input: `intercom_help_center {
				region
			}`,
			wantErr: "region: want exactly one value, got 0, at Testfile:2",
		},
		{
			name: "two values",
			input: `intercom_help_center {
				app_domain app.example.com help.example.com
			}`,
			wantErr: "app_domain: want exactly one value, got 2",
		},
		{
			name: "repeated",
			input: `intercom_help_center {
				region us
				region eu
			}`,
			wantErr: "region: specified more than once, at Testfile:3",
		},
		{
			name: "sub-block",
			input: `intercom_help_center {
				region us {
					x
				}
			}`,
			wantErr: "region: takes no block",
		},
		{
			name: "unknown region with line",
			input: `intercom_help_center {
				region mars
			}`,
			wantErr: `region: unknown region "mars": want us, eu or au, at Testfile:2`,
		},
		{
			name: "bad origin with line",
			input: `intercom_help_center {
				app_domain app.example.com
				origin https://custom.intercom.help/hc/en
			}`,
			wantErr: "without path, query or fragment (the request's own path and query are forwarded), at Testfile:3",
		},
		{
			name: "public suffix app_domain",
			input: `intercom_help_center {
				region us
				app_domain github.io
			}`,
			wantErr: `app_domain: "github.io" is a public suffix`,
		},
		{
			name: "bad forward_cookies",
			input: `intercom_help_center {
				forward_cookies some
			}`,
			wantErr: `forward_cookies: unknown value "some"`,
		},
		{
			name: "missing app_domain",
			input: `intercom_help_center {
				region us
			}`,
			wantErr: "app_domain is required",
		},
		{
			name: "strip_headers adds up",
			input: `intercom_help_center {
				region us
				strip_headers Remote-User Remote-Email
				app_domain app.example.com
				strip_headers X-Forwarded-Groups
			}`,
			want: HelpCenter{Region: "us", AppDomain: "app.example.com", StripHeaders: []string{"Remote-User", "Remote-Email", "X-Forwarded-Groups"}},
		},
		{
			name: "strip_headers without names",
			input: `intercom_help_center {
				region us
				strip_headers
			}`,
			wantErr: "strip_headers: want at least one header name, at Testfile:3",
		},
		{
			name: "strip_headers wildcard",
			input: `intercom_help_center {
				region us
				app_domain app.example.com
				strip_headers Remote-User
				strip_headers Remote-*
			}`,
			wantErr: `strip_headers: "Remote-*" is not a header name (exact names only, no wildcards or placeholders), at Testfile:5`,
		},
		{
			name: "strip_headers placeholder",
			input: `intercom_help_center {
				strip_headers {http.request.header.X-Strip}
			}`,
			wantErr: `strip_headers: "{http.request.header.X-Strip}" is not a header name`,
		},
		{
			name: "strip_headers Host",
			input: `intercom_help_center {
				region us

				strip_headers X-A host
			}`,
			wantErr: "strip_headers: Host cannot be stripped: Intercom picks the Help Center by the Host the browser used, at Testfile:4",
		},
		{
			name: "strip_headers Cookie",
			input: `intercom_help_center {
				strip_headers Cookie
			}`,
			wantErr: "strip_headers: Cookie cannot be stripped here: forward_cookies decides which cookies reach Intercom (only intercom-* by default), at Testfile:2",
		},
		{
			name: "strip_headers block",
			input: `intercom_help_center {
				strip_headers X-A {
					x
				}
			}`,
			wantErr: "strip_headers: takes no block, at Testfile:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got HelpCenter
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("UnmarshalCaddyfile() = nil, want error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("UnmarshalCaddyfile() = %q, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalCaddyfile() = %v", err)
			}
			if got.Region != tt.want.Region || got.Origin != tt.want.Origin || got.AppDomain != tt.want.AppDomain ||
				got.ForwardCookies != tt.want.ForwardCookies || got.OriginCA != tt.want.OriginCA ||
				!reflect.DeepEqual(got.StripHeaders, tt.want.StripHeaders) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
