package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy/golden"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// TestCaddyfileAdapt adapts every testdata/caddyfile_adapt/*.caddyfile and
// compares it with the .json next to it.
func TestCaddyfileAdapt(t *testing.T) {
	golden.Adapt(t, "testdata/caddyfile_adapt")
}

// TestCaddyfileParseErrors checks that each malformed sub-directive is named
// with the file and line it is on (issue 16 item 1): every value known at
// parse time is checked by the parser, not left to Provision.
func TestCaddyfileParseErrors(t *testing.T) {
	// A complete block, for the checks that need everything else right.
	const ok = "intercom {\n app_id a\n secret s\n user_id {http.auth.user.id}\n"
	for _, tc := range []struct {
		input, want string
		line        int
	}{
		{"intercom extra", "wrong argument count", 1},
		{"intercom {\n frobnicate yes\n}", `unrecognized intercom sub-directive "frobnicate"`, 2},
		{"intercom {\n region mars\n}", `region: unknown region "mars"`, 2},
		{"intercom {\n app_id\n}", "app_id: expects exactly one value", 2},
		{"intercom {\n app_id a b\n}", "app_id: expects exactly one value", 2},
		{"intercom {\n ttl soon\n}", `ttl: bad duration "soon"`, 2},
		{"intercom {\n ttl -5m\n}", "ttl: duration must be positive", 2},
		{"intercom {\n attribute plan\n}", "attribute: expects a claim name and a value", 2},
		{"intercom {\n attribute plan a\n attribute plan b\n}", `attribute: claim "plan" given twice`, 3},
		{"intercom {\n trust\n}", "trust: expects CIDR ranges", 2},
		{"intercom {\n loader yes\n}", "loader: takes no value", 2},
		{"intercom {\n salesforce {\n  kid x\n }\n}", `unrecognized salesforce sub-directive "kid"`, 3},
		{"intercom {\n salesforce {\n  algorithm HS256\n }\n}", `salesforce algorithm: "HS256" is not supported`, 3},
		{"intercom {\n salesforce {\n  ttl forever\n }\n}", `salesforce ttl: bad duration "forever"`, 3},
		{"intercom {\n salesforce on\n}", "salesforce: expects a block", 2},
		{"intercom {\n salesforce {\n  reuse 0s\n }\n}", "salesforce reuse: duration must be positive", 3},
		{"intercom {\n salesforce {\n  cache_size lots\n }\n}", `salesforce cache_size: "lots" is not a positive number`, 3},

		// Values that used to wait for Provision (issue 16 item 1).
		{"intercom {\n trust 10.0.0.0/33\n}", `trust: "10.0.0.0/33" is not a CIDR range`, 2},
		{"intercom {\n trust 10.0.0.0/8\n trust nonsense\n}", `trust: "nonsense" is not`, 3},
		{"intercom {\n app_id a.b\n}", `app_id: "a.b" is not an Intercom workspace ID`, 2},
		{"intercom {\n app_id {env.APP}\n}", `app_id: "{env.APP}" is not an Intercom workspace ID`, 2},
		{"intercom {\n api_base api.example.com\n}", `api_base: "api.example.com" is not an http(s) URL`, 2},
		{"intercom {\n endpoint jwt\n}", `endpoint: "jwt" must be a path`, 2},
		{"intercom {\n secret \"\"\n}", "secret: empty value", 2},
		{"intercom {\n attribute exp 1\n}", "attribute exp:", 2},
		{"intercom {\n salesforce {\n  jwks keys.json\n }\n}", `salesforce jwks: "keys.json" must be a path`, 3},
		{"intercom {\n salesforce {\n  private_key \"\"\n }\n}", "salesforce private_key: empty value", 3},
		{"intercom {\n salesforce {\n  key_id k\n }\n}", "salesforce: issuer: required", 2},
		{ok + " salesforce {\n  private_key {file./k}\n  key_id k\n  issuer i\n  ttl 5m\n  reuse 10m\n }\n}", "salesforce: reuse: 10m0s must be shorter than the token ttl 5m0s", 5},
		{"intercom {\n app_id a\n}", "user_id: required", 1},
		{"intercom {\n\n app_id a\n user_id {http.auth.user.id}\n}", "secret: required", 1},
		{"\n\nintercom {\n secret s\n}", "app_id: required", 3},
		{"intercom {\n region ap\n}", "app_id: required", 1}, // ap is a region: the block fails later

		// The identity allowlist (issue 13 item 5).
		{"intercom {\n user_id {http.vars.user}\n}", "user_id: placeholder {http.vars.user} cannot carry identity", 2},
		{"intercom {\n app_id a\n email {re.mail.1}\n}", "email: placeholder {http.regexp.mail.1}", 3},
		{"intercom {\n name {labels.0}\n}", "name: placeholder {http.request.host.labels.0}", 2},
		{"intercom {\n attribute page {%uri}\n}", "attribute page: placeholder {http.request.uri_escaped}", 2},
		{"intercom {\n salesforce {\n  subject {cookie.sf}\n }\n}", "salesforce subject: placeholder {http.request.cookie.sf}", 3},
		{"intercom {\n user_id {http.reverse_proxy.header.remote-user}\n}", "{http.reverse_proxy.header.Remote-User}", 2},
		{"intercom {\n trust route\n}", "trust route is no longer supported", 2},
		{"intercom {\n app_id a\n user_id {header.X-User}\n secret s\n}", "user_id: placeholder {http.request.header.X-User} reads a request header", 3},
		{ok + " email {header.X-Email}\n}", "trust: required", 5},
	} {
		var h Intercom
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.input, err, tc.want)
			continue
		}
		if at := fmt.Sprintf(", at Testfile:%d", tc.line); !strings.HasSuffix(err.Error(), at) {
			t.Errorf("%q: error %q does not end with %q", tc.input, err, at)
		}
	}

	// Accepted: the safe sources, trust after the value that needs it, and
	// region ap.
	for _, input := range []string{
		ok + " email {http.reverse_proxy.header.Remote-Email}\n name {tls_client_subject}\n}",
		"intercom {\n user_id {header.X-User}\n app_id a\n secret s\n trust 10.0.0.1 private_ranges\n region ap\n}",
		ok + " salesforce {\n  private_key {file./k}\n  key_id k\n  issuer i\n  subject {http.auth.user.contact}\n }\n}",
	} {
		var h Intercom
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
			t.Errorf("%q: %v", input, err)
		}
	}
}

// TestProvisionErrors checks every configuration error Provision reports,
// and that none of them repeats the secret.
func TestProvisionErrors(t *testing.T) {
	t.Setenv("EMPTY_SECRET", "")
	valid := func() *Intercom {
		return &Intercom{AppID: "app", Secret: testSecret, UserID: "{http.auth.user.id}"}
	}
	sf := func(mut func(*Salesforce)) func(*Intercom) {
		return func(h *Intercom) {
			h.Salesforce = &Salesforce{PrivateKey: testKeyPEM(t), KeyID: "k1", Issuer: "https://app.example.com"}
			mut(h.Salesforce)
		}
	}
	for _, tc := range []struct {
		name string
		mut  func(*Intercom)
		want string
	}{
		{"no app_id", func(h *Intercom) { h.AppID = "" }, "app_id: required"},
		{"no user_id", func(h *Intercom) { h.UserID = "" }, "user_id: required"},
		{"no secret", func(h *Intercom) { h.Secret = "" }, "secret: required"},
		{"empty secret", func(h *Intercom) { h.Secret = "{env.EMPTY_SECRET}" }, "secret: resolves to an empty value"},
		{"bad region", func(h *Intercom) { h.Region = "mars" }, `region: unknown region "mars"`},
		{"bad api_base", func(h *Intercom) { h.APIBase = "api.example.com" }, `api_base: "api.example.com" is not an http(s) URL`},
		{"shadowing attribute", func(h *Intercom) { h.Attributes = map[string]string{"user_id": "x"} }, "attribute user_id:"},
		{"header without trust", func(h *Intercom) { h.UserID = "{http.request.header.X-User}" }, "user_id: placeholder {http.request.header.X-User} reads a request header, which any client can send; trust: required"},
		{"cookie identity", func(h *Intercom) { h.Email = "{http.request.cookie.email}" }, "email: placeholder {http.request.cookie.email} cannot carry identity: it is a cookie the client sends"},
		{"vars identity", func(h *Intercom) { h.Attributes = map[string]string{"plan": "{http.vars.plan}"} }, "attribute plan: placeholder {http.vars.plan}"},
		{"salesforce subject", sf(func(s *Salesforce) { s.Subject = "{http.request.uri.query.sub}" }), "salesforce subject: placeholder {http.request.uri.query.sub}"},
		{"bad trust", func(h *Intercom) { h.Trust = []string{"10.0.0.0/33"} }, `trust: "10.0.0.0/33" is not a CIDR range`},
		{"trust route", func(h *Intercom) { h.Trust = []string{"route"} }, "trust route is no longer supported"},
		{"names the handler", func(h *Intercom) { h.Secret = "{env.EMPTY_SECRET}" }, "intercom handler for app_id app: secret:"},
		{"empty env named", func(h *Intercom) { h.Secret = "{env.EMPTY_SECRET}" }, "secret: resolves to an empty value: the environment variable EMPTY_SECRET is unset or empty"},
		{"unreadable key file", sf(func(s *Salesforce) { s.PrivateKey = "{file./nonexistent/sf.key.pem}" }), "salesforce: private_key: resolves to an empty value: cannot read the file: open /nonexistent/sf.key.pem: no such file or directory"},
		{"endpoint is jwks", func(h *Intercom) {
			sf(func(s *Salesforce) { s.JWKS = "/t"; s.Certificate = "x" })(h)
			h.Endpoint = "/t"
		}, `salesforce: jwks: "/t" is also the token endpoint`},
		{"region ap accepted, mars not", func(h *Intercom) { h.Region = "mars" }, "ap is accepted as au"},
		{"salesforce no key_id", sf(func(s *Salesforce) { s.KeyID = "" }), "salesforce: key_id: required"},
		{"salesforce no issuer", sf(func(s *Salesforce) { s.Issuer = "" }), "salesforce: issuer: required"},
		{"salesforce no key", sf(func(s *Salesforce) { s.PrivateKey = "" }), "salesforce: private_key: required"},
		{"salesforce empty key file", sf(func(s *Salesforce) { s.PrivateKey = "{env.EMPTY_SECRET}" }), "salesforce: private_key: resolves to an empty value"},
		{"salesforce bad PEM", sf(func(s *Salesforce) { s.PrivateKey = "not a pem" }), "salesforce: private_key:"},
		{"unreadable certificate", sf(func(s *Salesforce) { s.Certificate = "{file./nonexistent/sf.cert.pem}" }), "salesforce: certificate: resolves to an empty value: cannot read the file: open /nonexistent/sf.cert.pem"},
		{"salesforce bad algorithm", sf(func(s *Salesforce) { s.Algorithm = "ES256" }), `salesforce: algorithm: "ES256" is not supported`},
		{"salesforce reuse not below ttl", sf(func(s *Salesforce) { s.Reuse = caddy.Duration(time.Hour) }), "salesforce: reuse: 1h0m0s must be shorter than the token ttl 1h0m0s"},
		{"salesforce reuse over custom ttl", sf(func(s *Salesforce) { s.TTL = caddy.Duration(time.Minute); s.Reuse = caddy.Duration(2 * time.Minute) }), "must be shorter than the token ttl 1m0s"},
		{"salesforce negative cache", sf(func(s *Salesforce) { s.Reuse = caddy.Duration(time.Minute); s.CacheSize = -1 }), "salesforce: cache_size: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := valid()
			tc.mut(h)
			err := provision(t, h)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error repeats the secret: %v", err)
			}
		})
	}

	if err := provision(t, valid()); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
}

func provision(t *testing.T, h *Intercom) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		return err
	}
	return h.Validate()
}
