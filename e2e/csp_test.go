//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// cspNonce is the nonce the test upstream puts in its policy and scripts.
const cspNonce = "ZTJlLW5vbmNlLTAxMjM0NQ"

// scriptHash is the CSP hash source of an inline script's text.
func scriptHash(js string) string {
	sum := sha256.Sum256([]byte(js))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Scenario 4: pages under strict Content-Security-Policies. Our inline
// script must run (settings present, Messenger booted with the JWT) without
// a single violation report, and the page's own inline scripts must keep
// running, also where the policy allows them with 'unsafe-inline' (a hash
// added there would switch 'unsafe-inline' off). The listener_works case
// shows that the listener does see violations in this browser.
func TestStrictCSP(t *testing.T) {
	const pageScript = `window.__pageRan = true;`
	loader := officialLoader(testAppID)
	cases := []struct {
		name    string
		policy  string
		body    string
		rogue   bool // the page has a script the policy must block
		comment string
	}{
		{
			name:    "nonce",
			policy:  "default-src 'self'; script-src 'nonce-" + cspNonce + "'; object-src 'none'; base-uri 'none'",
			body:    `<script nonce="` + cspNonce + `">` + pageScript + `</script>`,
			comment: "our script reuses the page's nonce, and the edge's loader passes it on to the widget script",
		},
		{
			name:    "strict_dynamic",
			policy:  "script-src 'nonce-" + cspNonce + "' 'strict-dynamic' https: 'unsafe-inline'; object-src 'none'; base-uri 'none'",
			body:    `<script nonce="` + cspNonce + `">` + pageScript + loader + `</script>`,
			comment: "Intercom's recommended strict CSP; the page's own loader is trusted through 'strict-dynamic'",
		},
		{
			name:    "hash_only",
			policy:  "script-src " + scriptHash(pageScript) + " https://widget.intercom.io; object-src 'none'; base-uri 'none'",
			body:    `<script>` + pageScript + `</script>`,
			comment: "no nonce to reuse: the edge adds our script's hash",
		},
		{
			name:    "unsafe_inline",
			policy:  "script-src 'self' 'unsafe-inline' https://widget.intercom.io; object-src 'none'",
			body:    `<script>` + pageScript + `</script><script>` + loader + `</script>`,
			comment: "inline scripts already allowed: the policy must stay as it is",
		},
		{
			name:    "listener_works",
			policy:  "script-src 'nonce-" + cspNonce + "' https://widget.intercom.io; object-src 'none'",
			body:    `<script nonce="` + cspNonce + `">` + pageScript + `</script><script>window.__rogue = true;</script>`,
			rogue:   true,
			comment: "a script without the nonce is blocked and reported",
		},
	}
	pages := map[string]webPage{}
	for _, c := range cases {
		pages["/"+c.name] = webPage{
			html:    htmlPage("CSP "+c.name, "", "<h1>"+c.comment+"</h1>\n"+c.body),
			headers: map[string]string{"Content-Security-Policy": c.policy},
		}
	}
	upstream := newUpstream(t, pages)
	caddy := startCaddy(t, 1, appSite(upstream, "loader"))

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := newTab(t)
			tb.setUser("alice")
			resp := tb.navigate(caddy.appURL("/" + c.name))
			// A blocked script shows as a boot that never comes: report
			// the violations first, they say why.
			bootErr := tb.poll(bootedJS, bootTimeout)
			tb.quiet()

			violations := tb.cspViolations()
			var rogue bool
			tb.eval("window.__rogue === true", &rogue)
			if c.rogue {
				if len(violations) != 1 || rogue {
					t.Errorf("control: %d violations (ran: %v), want exactly the rogue script blocked: %v", len(violations), rogue, violations)
				}
			} else if len(violations) != 0 {
				t.Errorf("CSP violations reported: %v", violations)
			}

			var pageRan bool
			tb.eval("window.__pageRan === true", &pageRan)
			if !pageRan {
				t.Errorf("the page's own inline script did not run")
			}
			var settings map[string]any
			tb.eval("window.intercomSettings", &settings)
			if settings["user_id"] != "alice" {
				t.Errorf("window.intercomSettings = %s, want the trusted user (did our script run?)", redactMap(settings))
			}
			if bootErr != nil {
				t.Fatalf("the widget did not boot within %s: %v", bootTimeout, bootErr)
			}
			jwt, _ := settings["intercom_user_jwt"].(string)
			verifyIntercomJWT(t, jwt, "alice")
			wantOneBoot(t, tb.stubCalls(), "alice", "auto")

			got, _ := resp.Headers["Content-Security-Policy"].(string)
			if c.name == "unsafe_inline" && got != c.policy {
				t.Errorf("policy changed to %q; with 'unsafe-inline' it must stay %q", got, c.policy)
			}
		})
	}
}
