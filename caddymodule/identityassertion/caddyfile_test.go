package identityassertion

import (
	"strings"
	"testing"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy/golden"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The intercom directive, to check the order of the two.
	_ "github.com/caddy-intercom/caddy-intercom/caddymodule"
)

func adapt(t *testing.T, name, input string) ([]byte, error) {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), map[string]any{"filename": name})
	for _, w := range warnings {
		t.Errorf("warning: %s:%d: %s", name, w.Line, w.Message)
	}
	return out, err
}

// TestCaddyfileAdapt adapts every testdata/caddyfile_adapt/*.caddyfile and
// compares it with the .json next to it.
func TestCaddyfileAdapt(t *testing.T) {
	golden.Adapt(t, "testdata/caddyfile_adapt")
}

// TestDirectiveOrder: identity_assertion runs after basic_auth and before
// intercom (and encode), whatever order the site block lists them in.
func TestDirectiveOrder(t *testing.T) {
	out, err := adapt(t, "Caddyfile", `:8080 {
	reverse_proxy 127.0.0.1:9
	intercom {
		app_id a
		secret s
		user_id {http.auth.user.id}
	}
	encode
	identity_assertion {
		provider google_iap
		audience /projects/1/global/backendServices/2
	}
	basic_auth {
		u $2a$04$yWGcdOqdn/Z.DL7g.NoCCu1YvvSRxW0fS2dSRVqNzbCsp6kLeKRVy
	}
}
`)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, h := range []string{`"handler":"authentication"`, `"handler":"identity_assertion"`, `"handler":"encode"`, `"handler":"intercom"`, `"handler":"reverse_proxy"`} {
		i := strings.Index(s, h)
		if i < 0 {
			t.Fatalf("%s missing from %s", h, s)
		}
		s = s[i+len(h):]
	}
}

// TestCaddyfileErrors: each error names its sub-directive, with the file and
// line where the value (or the directive lacking it) is.
func TestCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct{ block, want, at string }{
		{"provider okta", `provider: unknown provider "okta"`, "at Caddyfile:3"},
		{"", "identity_assertion: provider: required", "at Caddyfile:2"},
		{"provider cloudflare_access\n\t\taudience x", "identity_assertion: team: required for provider cloudflare_access", "at Caddyfile:2"},
		{"provider cloudflare_access\n\t\tteam acme", "identity_assertion: audience: required for provider cloudflare_access", "at Caddyfile:2"},
		{"provider google_iap", "identity_assertion: audience: required for provider google_iap", "at Caddyfile:2"},
		{"provider pomerium", "identity_assertion: audience: required for provider pomerium", "at Caddyfile:2"},
		{"provider aws_alb\n\t\tsigner arn:x", "identity_assertion: region: required for provider aws_alb", "at Caddyfile:2"},
		{"provider aws_alb\n\t\tregion eu-west-1", "identity_assertion: signer: required for provider aws_alb", "at Caddyfile:2"},
		{"provider aws_alb\n\t\tregion mars\n\t\tsigner arn:x", `region: "mars" is not an AWS region name`, "at Caddyfile:4"},
		{"provider oidc\n\t\taudience c", "identity_assertion: issuer: required for provider oidc", "at Caddyfile:2"},
		{"provider oidc\n\t\taudience c\n\t\tissuer http://auth.example.com", `issuer: "http://auth.example.com" must be an https:// URL`, "at Caddyfile:2"},
		{"provider jwt\n\t\tissuer i\n\t\taudience a", "identity_assertion: jwks_url: required for provider jwt", "at Caddyfile:2"},
		{"provider jwt\n\t\tjwks_url http://keys.example.com/jwks", `jwks_url: "http://keys.example.com/jwks" must be an https:// URL (http:// is allowed only for loopback hosts)`, "at Caddyfile:4"},
		{"provider jwt\n\t\talgorithms RS256 XS512", `algorithms: unknown algorithm "XS512"`, "at Caddyfile:4"},
		{"provider jwt\n\t\talgorithms HS256", `algorithms: "HS256" is a shared-secret (HMAC) algorithm`, "at Caddyfile:4"},
		{"provider jwt\n\t\talgorithms none", `algorithms: unknown algorithm "none"`, "at Caddyfile:4"},
		{"provider cloudflare_access\n\t\tteam Acme.Corp\n\t\taudience a", `team: "Acme.Corp" is not a Cloudflare team name`, "at Caddyfile:4"},
		{"leeway soon", "leeway:", "at Caddyfile:3"},
		{"leeway 1h", "leeway: 1h0m0s is outside 0–5m", "at Caddyfile:3"},
		{"require yes", "wrong argument count", "at Caddyfile:3"},
		{"frobnicate", `unknown sub-directive "frobnicate"`, "at Caddyfile:3"},
		{"audience", "audience: expects at least one value", "at Caddyfile:3"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := adapt(t, "Caddyfile", ":8080 {\n\tidentity_assertion {\n\t\t"+tc.block+"\n\t}\n}\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.at) {
				t.Fatalf("error = %v\nwant it to contain %q and %q", err, tc.want, tc.at)
			}
		})
	}
}

// TestValidateJSON: a JSON config that Caddy loads without the Caddyfile gets
// the same checks at provision, naming the sub-directive.
func TestValidateJSON(t *testing.T) {
	for _, tc := range []struct {
		h    Handler
		want string
	}{
		{Handler{Provider: "okta"}, `provider: unknown provider "okta"`},
		{Handler{Provider: providerIAP}, "audience: required for provider google_iap"},
		{Handler{Provider: providerJWT, JWKSURL: "http://10.0.0.1/jwks", Issuer: "i", Audience: []string{"a"}}, "jwks_url: \"http://10.0.0.1/jwks\" must be an https:// URL"},
		{Handler{Provider: providerIAP, Audience: []string{"a"}, Algorithms: []string{"HS512"}}, "algorithms: \"HS512\" is a shared-secret"},
	} {
		h := tc.h
		err := provisionErr(&h)
		if err == nil || !strings.Contains(err.Error(), "identity_assertion: "+tc.want) {
			t.Errorf("%+v: error = %v, want %q", tc.h, err, tc.want)
		}
	}
	// Loopback http is fine (tests, development).
	for _, u := range []string{"http://127.0.0.1:9/jwks", "http://localhost/jwks", "http://[::1]:8/k", "https://keys.example.com/jwks"} {
		if err := checkKeyURL("jwks_url", u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}
