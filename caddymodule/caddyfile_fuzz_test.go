package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzUnmarshalCaddyfile feeds arbitrary directive blocks to the parser:
// it must return an error or a config, never panic, and whatever it accepts
// must pass the same checks Provision and Validate run.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, seed := range []string{
		"intercom {\n app_id a\n secret s\n user_id {http.auth.user.id}\n}",
		"intercom {\n app_id a\n secret s\n user_id {http.reverse_proxy.header.Remote-User}\n email {header.X-Email}\n trust 10.0.0.1\n region ap\n}",
		"intercom {\n attribute plan {http.auth.user.plan}\n trust 10.0.0.0/8 ::1 private_ranges\n ttl 30m\n user_hash\n loader\n endpoint /jwt\n}",
		"intercom {\n salesforce {\n  private_key {file./k.pem}\n  key_id k\n  issuer i\n  reuse 5m\n  cache_size 10\n  previous_certificate {file./old.cert.pem} old\n }\n}",
		"intercom {\n user_id {header.X-User}\n trust route\n}",
		"intercom {\n region eu\n api_base https://x\n}",
		"intercom {\n salesforce {\n",
		"intercom a b c",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		// Not NewTestDispenser: it log.Fatals on input the lexer rejects
		// (an unterminated heredoc), which would end the fuzzer itself.
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil {
			return
		}
		var h Intercom
		if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		// What the parser accepts, the static check accepts too: every value
		// known at parse time is checked there, with file and line.
		if err := h.checkConfig(); err != nil {
			t.Fatalf("parser accepted %q, but the config check refuses it: %v", input, err)
		}
		src, err := newIdentitySource(h.Trust, h.identityValues())
		if err != nil {
			t.Fatalf("parser accepted %q, but its identity is refused: %v", input, err)
		}
		for _, name := range src.headers {
			if name == "" || strings.ContainsAny(name, "{}") {
				t.Fatalf("bad identity header name %q from %q", name, input)
			}
		}
	})
}
