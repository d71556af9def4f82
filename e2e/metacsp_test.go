//go:build e2e

package e2e

import (
	"testing"
)

// A page that declares its policy in a <meta http-equiv="Content-Security-Policy">
// rather than a header: the edge cannot add a nonce or a hash to it, but a
// meta policy only governs what comes after the element, so our script runs
// when it is injected before the <meta>. The policy allows only same-origin
// script files: the page's own /self.js runs, an inline page script after
// the <meta> is blocked (the control that the policy is in force), and our
// inline script, injected in front of it, is not reported and runs.
func TestMetaCSP(t *testing.T) {
	const policy = "script-src 'self'; object-src 'none'"
	head := `<meta http-equiv="Content-Security-Policy" content="` + policy + `">` + "\n" +
		`<script src="/self.js"></script>` + "\n" +
		`<script>window.__rogue = true;</script>`
	upstream := newUpstream(t, map[string]webPage{
		"/meta": {html: "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" + head +
			"\n<title>Meta CSP</title>\n</head>\n<body>\n<h1>policy in a meta element</h1>\n</body>\n</html>\n"},
		"/self.js": {html: "window.__pageRan = true;",
			headers: map[string]string{"Content-Type": "text/javascript; charset=utf-8"}},
	})
	caddy := startCaddy(t, 1, appSite(upstream))

	tb := newTab(t)
	tb.setUser("alice")
	tb.navigate(caddy.appURL("/meta"))
	tb.waitFor("window.__pageRan === true", bootTimeout, "the page's same-origin script to run")
	if err := tb.poll("(window.__cspViolations || []).length >= 1", bootTimeout); err != nil {
		t.Fatalf("the control inline script was not reported as blocked: %v", err)
	}
	tb.quiet()

	violations := tb.cspViolations()
	var rogue bool
	tb.eval("window.__rogue === true", &rogue)
	if len(violations) != 1 || rogue {
		t.Errorf("%d violations (control ran: %v), want exactly the page's inline script blocked: %v",
			len(violations), rogue, violations)
	}
	var settings map[string]any
	tb.eval("window.intercomSettings", &settings)
	if settings["user_id"] != "alice" {
		t.Fatalf("window.intercomSettings = %s, want the trusted user: our script was blocked by the meta policy",
			redactMap(settings))
	}
	jwt, _ := settings["intercom_user_jwt"].(string)
	verifyIntercomJWT(t, jwt, "alice")
}
