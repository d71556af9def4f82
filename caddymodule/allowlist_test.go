package caddymodule

import (
	"strings"
	"testing"
)

// identityConfigErr checks one identity value the way Provision does.
func identityConfigErr(trust []string, sub, value string) error {
	_, err := newIdentitySource(trust, []identityValue{{sub, value}})
	return err
}

// TestIdentityAllowlist is issue 13 item 5: identity comes only from sources a
// client cannot forge. Every refusal names the sub-directive, the placeholder
// and a safe source.
func TestIdentityAllowlist(t *testing.T) {
	const safe = "{http.reverse_proxy.header." // every refusal points at a safe source
	for _, tc := range []struct {
		name  string
		trust []string
		sub   string
		value string
		want  []string // substrings of the error; nil: accepted
	}{
		// Allowed.
		{"auth user", nil, "user_id", "{http.auth.user.id}", nil},
		{"auth user with literal text", nil, "email", "{http.auth.user.id}@example.com", nil},
		{"forward_auth response header", nil, "user_id", "{http.reverse_proxy.header.Remote-User}", nil},
		{"rp shorthand", nil, "name", "{rp.header.Remote-Name}", nil},
		{"client certificate", nil, "user_id", "{http.request.tls.client.subject}", nil},
		{"client certificate shorthand", nil, "attribute cert", "{tls_client_fingerprint}", nil},
		{"header with trust", []string{"10.0.0.0/8"}, "user_id", "{http.request.header.X-User}", nil},
		{"header shorthand with private_ranges", []string{"private_ranges"}, "salesforce subject", "{header.X-Contact}", nil},
		{"literal", nil, "attribute plan", "gold", nil},
		{"escaped brace is literal", nil, "name", `\{not a placeholder\}`, nil},

		// Refused: request data the client controls.
		{"vars", nil, "user_id", "{http.vars.user}", []string{"user_id", "{http.vars.user}", safe}},
		{"vars shorthand", nil, "email", "{vars.email}", []string{"email", "{http.vars.email}", safe}},
		{"client_ip", nil, "user_id", "{client_ip}", []string{"user_id", "{http.vars.client_ip}"}},
		{"regexp", nil, "user_id", "{re.user.1}", []string{"user_id", "{http.regexp.user.1}", safe}},
		{"regexp full", nil, "name", "{http.regexp.name}", []string{"name", "{http.regexp.name}"}},
		{"uri", nil, "user_id", "{http.request.uri}", []string{"user_id", "{http.request.uri}", safe}},
		{"uri query", nil, "user_id", "{http.request.uri.query.user}", []string{"{http.request.uri.query.user}"}},
		{"escaped uri", nil, "user_id", "{%uri}", []string{"{http.request.uri_escaped}"}},
		{"orig_uri", nil, "user_id", "{http.request.orig_uri.path}", []string{"{http.request.orig_uri.path}"}},
		{"path shorthand", nil, "attribute page", "{path}", []string{"attribute page", "{http.request.uri.path}"}},
		{"query shorthand", nil, "user_id", "{query.u}", []string{"{http.request.uri.query.u}"}},
		{"host", nil, "user_id", "{host}", []string{"{http.request.host}"}},
		{"labels", nil, "attribute tenant", "{labels.2}", []string{"attribute tenant", "{http.request.host.labels.2}"}},
		{"body", nil, "user_id", "{http.request.body}", []string{"{http.request.body}"}},
		{"body form", nil, "user_id", "{http.request.body_base64}", []string{"{http.request.body_base64}"}},
		{"cookie", nil, "email", "{http.request.cookie.email}", []string{"email", "{http.request.cookie.email}"}},
		{"cookie shorthand", nil, "email", "{cookie.email}", []string{"{http.request.cookie.email}"}},
		{"remote", nil, "user_id", "{remote_host}", []string{"{http.request.remote.host}"}},
		{"other reverse_proxy placeholder", nil, "user_id", "{http.reverse_proxy.upstream.hostport}", []string{"{http.reverse_proxy.upstream.hostport}"}},
		{"bare auth prefix", nil, "user_id", "{http.auth.user}", []string{"{http.auth.user}"}},
		{"env", nil, "attribute plan", "{env.PLAN}", []string{"attribute plan", "{env.PLAN}"}},
		{"salesforce subject", nil, "salesforce subject", "{http.vars.contact}", []string{"salesforce subject", "{http.vars.contact}"}},
		{"allowed then refused", nil, "user_id", "{http.auth.user.id}-{http.vars.x}", []string{"{http.vars.x}"}},
		{"unclosed brace swallows the next one", nil, "user_id", "{x{http.auth.user.id}", []string{"user_id"}},

		// Header identity needs trust; trust route is gone.
		{"header without trust", nil, "user_id", "{http.request.header.X-User}", []string{"user_id", "{http.request.header.X-User}", "trust: required", "{http.reverse_proxy.header.X-User}"}},
		{"header shorthand without trust", nil, "email", "{header.X-Email}", []string{"email", "{http.request.header.X-Email}", "trust: required"}},
		{"trust route", []string{"route"}, "user_id", "{http.request.header.Remote-User}", []string{"trust route", "{http.reverse_proxy.header.*}"}},
		{"trust route without headers", []string{"route"}, "user_id", "{http.auth.user.id}", []string{"trust route", "{http.reverse_proxy.header.*}"}},
		{"bad cidr", []string{"10.0.0.0/33"}, "user_id", "{http.request.header.X-User}", []string{`trust: "10.0.0.0/33" is not`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := identityConfigErr(tc.trust, tc.sub, tc.value)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("%s %s refused: %v", tc.sub, tc.value, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s %s accepted, want it refused", tc.sub, tc.value)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
