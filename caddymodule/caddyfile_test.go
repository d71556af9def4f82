package caddymodule

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// TestCaddyfileAdapt adapts every testdata/caddyfile_adapt/*.caddyfile and
// compares it with the .json next to it.
func TestCaddyfileAdapt(t *testing.T) {
	testcaddy.AdaptGolden(t, "testdata/caddyfile_adapt")
}

// TestCaddyfileParseErrors checks that each malformed sub-directive is named.
func TestCaddyfileParseErrors(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"intercom extra", "wrong argument count"},
		{"intercom {\n frobnicate yes\n}", `unrecognized intercom sub-directive "frobnicate"`},
		{"intercom {\n region mars\n}", `region: unknown region "mars"`},
		{"intercom {\n app_id\n}", "app_id: expects exactly one value"},
		{"intercom {\n app_id a b\n}", "app_id: expects exactly one value"},
		{"intercom {\n ttl soon\n}", `ttl: bad duration "soon"`},
		{"intercom {\n ttl -5m\n}", "ttl: duration must be positive"},
		{"intercom {\n attribute plan\n}", "attribute: expects a claim name and a value"},
		{"intercom {\n attribute plan a\n attribute plan b\n}", `attribute: claim "plan" given twice`},
		{"intercom {\n trust\n}", "trust: expects CIDR ranges"},
		{"intercom {\n loader yes\n}", "loader: takes no value"},
		{"intercom {\n salesforce {\n  kid x\n }\n}", `unrecognized salesforce sub-directive "kid"`},
		{"intercom {\n salesforce {\n  algorithm HS256\n }\n}", `salesforce algorithm: "HS256" is not supported`},
		{"intercom {\n salesforce {\n  ttl forever\n }\n}", `salesforce ttl: bad duration "forever"`},
		{"intercom {\n salesforce on\n}", "salesforce: expects a block"},
		{"intercom {\n salesforce {\n  reuse 0s\n }\n}", "salesforce reuse: duration must be positive"},
		{"intercom {\n salesforce {\n  cache_size lots\n }\n}", `salesforce cache_size: "lots" is not a positive number`},
	} {
		var h Intercom
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.input, err, tc.want)
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
		{"header without trust", func(h *Intercom) { h.UserID = "{http.request.header.X-User}" }, "trust: required because the identity is read from the request header(s) X-User"},
		{"cookie identity", func(h *Intercom) { h.Email = "{http.request.cookie.email}" }, "which the client controls"},
		{"bad trust", func(h *Intercom) { h.Trust = []string{"10.0.0.0/33"} }, `trust: "10.0.0.0/33" is not a CIDR range`},
		{"route and ranges", func(h *Intercom) { h.Trust = []string{"route", "10.0.0.0/8"} }, "trust: route cannot be combined"},
		{"salesforce no key_id", sf(func(s *Salesforce) { s.KeyID = "" }), "salesforce: key_id: required"},
		{"salesforce no issuer", sf(func(s *Salesforce) { s.Issuer = "" }), "salesforce: issuer: required"},
		{"salesforce no key", sf(func(s *Salesforce) { s.PrivateKey = "" }), "salesforce: private_key: required"},
		{"salesforce empty key file", sf(func(s *Salesforce) { s.PrivateKey = "{env.EMPTY_SECRET}" }), "salesforce: private_key: resolves to an empty value"},
		{"salesforce bad PEM", sf(func(s *Salesforce) { s.PrivateKey = "not a pem" }), "salesforce: private_key:"},
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
