//go:build e2e

package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Issue 13 item 8: page code cannot change the identity the widget
// receives. Each page attacks the snippet in its first script, then boots
// the Messenger through the official loader with a forged identity; the
// stub widget must receive exactly one boot, as the trusted user, with the
// edge's JWT and the edge's email.
func TestPageCannotChangeIdentity(t *testing.T) {
	loader := officialLoader(testAppID)
	forgedBoot := `Intercom('boot', {app_id: '` + testAppID + `', user_id: 'mallory', email: 'mallory@evil.test', intercom_user_jwt: 'forged.jwt.token', custom_key: 'kept'});`
	attacks := map[string]string{
		// Replace or remove window.intercomSettings itself.
		"define-delete": `
try { Object.defineProperty(window, 'intercomSettings', {value: {app_id: 'x', user_id: 'mallory'}, writable: true, configurable: true}); } catch (e) { window.__refused = (window.__refused || 0) + 1; }
try { (function () { 'use strict'; delete window.intercomSettings; })(); } catch (e) { window.__refused = (window.__refused || 0) + 1; }
try { Object.defineProperty(window, 'Intercom', {value: function () {}, writable: true}); } catch (e) { window.__refused = (window.__refused || 0) + 1; }
window.intercomSettings = {app_id: '` + testAppID + `', user_id: 'mallory', email: 'mallory@evil.test'};
try { Object.defineProperty(window.intercomSettings, 'user_id', {value: 'mallory'}); } catch (e) { window.__refused = (window.__refused || 0) + 1; }
`,
		// A setter on Object.prototype would see (and swallow) every
		// key assigned to a fresh object.
		"prototype-setter": `
window.__stolen = [];
Object.defineProperty(Object.prototype, 'user_id', {configurable: true,
  get: function () { return 'mallory'; },
  set: function (v) { window.__stolen.push(v); }});
Object.defineProperty(Object.prototype, 'intercom_user_jwt', {configurable: true,
  get: function () { return 'forged.jwt.token'; },
  set: function (v) { window.__stolen.push('jwt'); }});
`,
		// Built-ins patched after the snippet started.
		"patched-builtins": `
var realApply = Reflect.apply;
Reflect.apply = function (target, self, args) {
  if (args && args[1] && typeof args[1] === 'object') {
    args = [args[0], Object.assign({}, args[1], {user_id: 'mallory', intercom_user_jwt: 'forged.jwt.token'})];
  }
  return realApply(target, self, args);
};
var realDefine = Object.defineProperty;
Object.defineProperty = function (o, k, d) { return o; };
`,
	}
	pages := map[string]webPage{}
	for name, attack := range attacks {
		pages["/"+name] = webPage{html: htmlPage(name, "<script>"+attack+"\n"+loader+"\n"+forgedBoot+"</script>", "<h1>"+name+"</h1>")}
	}
	upstream := newUpstream(t, pages)
	caddy := startCaddy(t, 1, appSite(upstream))

	for name := range attacks {
		t.Run(name, func(t *testing.T) {
			tb := newTab(t)
			tb.setUser("alice")
			tb.navigate(caddy.appURL("/" + name))
			tb.waitBooted()
			boot := wantOneBoot(t, tb.stubCalls(), "alice", "queue")
			if got := boot.str("email"); got != "alice@example.test" {
				t.Errorf("boot email = %q, want the edge's alice@example.test", got)
			}
			if got := boot.str("custom_key"); got != "kept" {
				t.Errorf("boot custom_key = %q, want the page's own key kept", got)
			}
			var settings map[string]any
			tb.eval("window.intercomSettings", &settings)
			if settings["user_id"] != "alice" || settings["email"] != "alice@example.test" {
				t.Errorf("window.intercomSettings = %s, want the edge's user and email", redactMap(settings))
			}
			switch name {
			case "define-delete":
				var refused int
				tb.eval("window.__refused || 0", &refused)
				if refused != 4 {
					t.Errorf("%d of 4 redefinitions refused", refused)
				}
			case "prototype-setter":
				var stolen []any
				tb.eval("window.__stolen", &stolen)
				if len(stolen) != 0 {
					t.Errorf("Object.prototype setters saw %v", stolen)
				}
			}
		})
	}
}

// Issue 13 item 8: an explicit Intercom('shutdown') by the page ends the
// edge identity for that page: the SPA that logs out without a reload
// boots anonymous, as it wrote the boot.
func TestPageShutdownEndsEdgeIdentity(t *testing.T) {
	upstream := newUpstream(t, map[string]webPage{
		"/": {html: htmlPage("SPA logout", `<script>`+officialLoader(testAppID)+`
Intercom('boot', {app_id: '`+testAppID+`'});
window.logout = function () {
  Intercom('shutdown');
  Intercom('boot', {app_id: '`+testAppID+`'});
};
</script>`, `<h1>Logs out without a reload</h1>`)},
	})
	caddy := startCaddy(t, 1, appSite(upstream))
	tb := newTab(t)
	tb.setUser("alice")
	tb.navigate(caddy.appURL("/"))
	tb.waitBooted()
	wantOneBoot(t, tb.stubCalls(), "alice", "queue")

	tb.eval("window.logout()", nil)
	tb.waitFor("(window.__stubCalls || []).filter(function (c) { return c.method === 'boot'; }).length === 2", bootTimeout, "the second boot")
	calls := tb.stubCalls()
	var methods []string
	for _, c := range calls {
		methods = append(methods, c.Method)
	}
	if got := strings.Join(methods, ","); got != "boot,shutdown,boot" {
		t.Fatalf("calls = %s, want boot,shutdown,boot; %v", got, calls)
	}
	if got := string(calls[2].Arg); got != `{"app_id":"`+testAppID+`"}` {
		t.Errorf("boot after the page's shutdown = %s, want the anonymous boot exactly as the page wrote it", got)
	}
}

// Issue 13 item 3: the token refresh goes to the page's own origin, whatever
// <base> says (a relative fetch would follow it to another origin).
func TestRefreshIgnoresBase(t *testing.T) {
	const ttl = 10 * time.Second
	const otherOrigin = "http://other-origin.example.test/"
	upstream := newUpstream(t, map[string]webPage{
		"/app/page": {html: htmlPage("Base", `<base href="`+otherOrigin+`">`, `<h1>A page with a base URL elsewhere</h1>`)},
	})
	caddy := startCaddy(t, 1, appSite(upstream, "loader", fmt.Sprintf("ttl %ds", int(ttl/time.Second)), "endpoint "+endpointPath))
	tb := newTab(t)
	tb.setUser("alice")
	tb.navigate(caddy.appURL("/app/page"))
	tb.waitBooted()
	wantOneBoot(t, tb.stubCalls(), "alice", "auto")
	var base string
	tb.eval("document.baseURI", &base)
	if base != otherOrigin {
		t.Fatalf("document.baseURI = %q, want %q (the test page must have the foreign base)", base, otherOrigin)
	}

	tb.waitFor("(window.__stubCalls || []).some(function (c) { return c.method === 'update'; })", ttl+2*time.Second, "a token refresh")
	want, _ := url.Parse(caddy.appURL(endpointPath))
	tb.mu.Lock()
	requests := append([]string(nil), tb.requests...)
	tb.mu.Unlock()
	own := 0
	for _, r := range requests {
		_, raw, _ := strings.Cut(r, " ")
		u, err := url.Parse(raw)
		if err != nil || !strings.HasSuffix(u.Path, endpointPath) {
			continue
		}
		if u.Host != want.Host || u.Scheme != want.Scheme || u.Path != endpointPath {
			t.Errorf("the refresh went to %s, want %s", raw, want)
		} else {
			own++
		}
	}
	if own == 0 {
		t.Errorf("no refresh request to %s; requests: %v", want, requests)
	}
	var jwt string
	tb.eval("window.intercomSettings.intercom_user_jwt", &jwt)
	verifyIntercomJWT(t, jwt, "alice")
}

// Issue 13 item 4: an XHTML page (application/xhtml+xml, parsed as XML)
// stays well-formed: it renders, its own scripts run, and
// window.intercomSettings holds the identity; under a hash-only CSP the
// edge's hash covers exactly the element's text.
func TestXHTMLPage(t *testing.T) {
	const pageScript = `window.__pageRan = true;`
	page := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en">
<head>
<meta charset="utf-8"/>
<title>XHTML</title>
<script>` + pageScript + `</script>
</head>
<body>
<h1 id="title">An XHTML page</h1>
<script>window.__bodyRan = true;</script>
</body>
</html>
`
	xhtml := map[string]string{"Content-Type": "application/xhtml+xml; charset=utf-8"}
	hashOnly := map[string]string{
		"Content-Type":            "application/xhtml+xml; charset=utf-8",
		"Content-Security-Policy": "script-src " + scriptHash(pageScript) + " " + scriptHash(`window.__bodyRan = true;`) + "; object-src 'none'",
	}
	upstream := newUpstream(t, map[string]webPage{
		"/plain": {html: page, headers: xhtml},
		"/csp":   {html: page, headers: hashOnly},
	})
	caddy := startCaddy(t, 1, appSite(upstream))
	for _, path := range []string{"/plain", "/csp"} {
		t.Run(path[1:], func(t *testing.T) {
			tb := newTab(t)
			tb.setUser("alice")
			tb.navigate(caddy.appURL(path))
			var state struct {
				Errors   int    `json:"errors"`
				Title    string `json:"title"`
				PageRan  bool   `json:"pageRan"`
				BodyRan  bool   `json:"bodyRan"`
				UserID   string `json:"userID"`
				JWT      string `json:"jwt"`
				Document string `json:"contentType"`
			}
			tb.eval(`{errors: document.getElementsByTagName('parsererror').length,
				title: (document.getElementById('title') || {}).textContent || '',
				pageRan: !!window.__pageRan, bodyRan: !!window.__bodyRan,
				userID: (window.intercomSettings || {}).user_id || '',
				jwt: (window.intercomSettings || {}).intercom_user_jwt || '',
				contentType: document.contentType}`, &state)
			if state.Document != "application/xhtml+xml" {
				t.Fatalf("document.contentType = %q, want application/xhtml+xml", state.Document)
			}
			if state.Errors != 0 || state.Title != "An XHTML page" {
				t.Errorf("the page did not render: %d XML parse errors, title %q", state.Errors, state.Title)
			}
			if !state.PageRan || !state.BodyRan {
				t.Errorf("the page's own scripts ran: head %v, body %v", state.PageRan, state.BodyRan)
			}
			if state.UserID != "alice" {
				t.Errorf("window.intercomSettings.user_id = %q, want alice", state.UserID)
			}
			verifyIntercomJWT(t, state.JWT, "alice")
			if v := tb.cspViolations(); len(v) != 0 {
				t.Errorf("CSP violations: %v", v)
			}
		})
	}
}
