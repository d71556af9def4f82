//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// sessionCookie is the Messenger's session cookie for the test app.
const sessionCookie = "intercom-session-" + testAppID

// markerCookie is the edge's record of who the browser last booted as
// (injector.MarkerCookie).
const markerCookie = "caddy_intercom_user"

// wantSession asserts that the browser holds the Messenger session of user
// on the registrable domain, as the widget sets it.
func (tb *tab) wantSession(u, user string) {
	tb.t.Helper()
	c := tb.cookies(u)[sessionCookie]
	if c == nil {
		tb.t.Fatalf("no %s cookie for %s after %s's boot", sessionCookie, u, user)
	}
	if c.Domain != ".example.test" || c.Value != "stub%3A"+user {
		tb.t.Fatalf("%s = %q on %q, want %s's session on .example.test", sessionCookie, c.Value, c.Domain, user)
	}
}

// Scenario 5: session hygiene on a shared browser. After a user switch the
// Messenger is shut down before the new user's boot; after a logout the
// Messenger session cookie is gone, whether or not the anonymous page has
// any Intercom code of its own.
func TestSessionHygiene(t *testing.T) {
	upstream := newUpstream(t, map[string]webPage{
		// A legacy page: no Intercom code, the edge's loader.
		"/app": {html: htmlPage("App", "", `<h1>App</h1>`)},
		// A site that shows the Messenger to visitors too.
		"/visitor": {html: htmlPage("Visitor", `<script>`+officialLoader(testAppID)+`
Intercom('boot', {app_id: '`+testAppID+`'});</script>`, `<h1>Messenger for everyone</h1>`)},
	})
	caddy := startCaddy(t, 1, appSite(upstream, "loader"))

	// loginAs loads /app as user and waits for its boot and session.
	loginAs := func(tb *tab, user string) {
		tb.t.Helper()
		tb.setUser(user)
		tb.navigate(caddy.appURL("/app"))
		tb.waitBooted()
		tb.wantSession(caddy.appURL("/"), user)
		if tb.cookies(caddy.appURL("/"))[markerCookie] == nil {
			tb.t.Fatalf("no %s cookie after %s's page", markerCookie, user)
		}
	}

	t.Run("switch_user", func(t *testing.T) {
		tb := newTab(t)
		loginAs(tb, "alice")
		tb.setUser("bob")
		tb.navigate(caddy.appURL("/app"))
		tb.waitBooted()
		tb.quiet()

		calls := tb.stubCalls()
		if len(calls) != 2 || calls[0].Method != "shutdown" {
			t.Fatalf("widget got %v, want shutdown, then bob's boot", calls)
		}
		wantOneBoot(t, calls, "bob", "auto")
		tb.wantSession(caddy.appURL("/"), "bob")
	})

	t.Run("logout_plain_page", func(t *testing.T) {
		tb := newTab(t)
		loginAs(tb, "alice")
		tb.setUser("")
		tb.navigate(caddy.appURL("/app"))
		tb.quiet()

		// Nothing in this page can run Intercom('shutdown'): the response's
		// own Set-Cookie must end the session.
		jar := tb.cookies(caddy.appURL("/"))
		if c := jar[sessionCookie]; c != nil {
			t.Errorf("%s still set after logout: %q on %q", sessionCookie, c.Value, c.Domain)
		}
		if jar[markerCookie] != nil {
			t.Errorf("%s still set after logout", markerCookie)
		}
		var settings any
		tb.eval("window.intercomSettings", &settings)
		if settings != nil {
			t.Errorf("anonymous page has intercomSettings %v", settings)
		}
		if calls := tb.stubCalls(); len(calls) != 0 {
			t.Errorf("anonymous page without Intercom code loaded the widget: %v", calls)
		}
	})

	t.Run("logout_visitor_messenger", func(t *testing.T) {
		tb := newTab(t)
		loginAs(tb, "alice")
		tb.setUser("")
		tb.navigate(caddy.appURL("/visitor"))
		tb.waitBooted()
		tb.quiet()

		calls := tb.stubCalls()
		if len(calls) != 2 || calls[0].Method != "shutdown" || calls[1].Method != "boot" {
			t.Fatalf("widget got %v, want shutdown, then the visitor boot", calls)
		}
		if arg := calls[1].obj(); arg["user_id"] != nil || arg["intercom_user_jwt"] != nil {
			t.Errorf("visitor boot carries an identity: %v", calls[1])
		}
		jar := tb.cookies(caddy.appURL("/"))
		if c := jar[sessionCookie]; c != nil {
			t.Errorf("%s still set after logout: %q on %q", sessionCookie, c.Value, c.Domain)
		}
		if jar["intercom-id-"+testAppID] == nil {
			t.Errorf("the visitor boot left no intercom-id cookie; cookies: %v", cookieNames(jar))
		}
	})
}

func cookieNames[V any](m map[string]V) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}
