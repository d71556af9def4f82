//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// bootTimeout is how long a page gets to load the (stub) widget and boot.
const bootTimeout = 10 * time.Second

// bootedJS is true once the stub widget has recorded a boot.
const bootedJS = "(window.__stubCalls || []).some(function (c) { return c.method === 'boot'; })"

// waitBooted waits until the stub widget has recorded a boot.
func (tb *tab) waitBooted() {
	tb.t.Helper()
	tb.waitFor(bootedJS, bootTimeout, "the widget to boot")
}

// boots returns the boot calls among calls.
func boots(calls []stubCall) []stubCall {
	var b []stubCall
	for _, c := range calls {
		if c.Method == "boot" {
			b = append(b, c)
		}
	}
	return b
}

// wantOneBoot asserts that calls hold exactly one boot, for user, through
// via, with a valid JWT and the trusted app id; it returns that boot.
func wantOneBoot(t *testing.T, calls []stubCall, user, via string) stubCall {
	t.Helper()
	b := boots(calls)
	if len(b) != 1 {
		t.Fatalf("widget booted %d times, want once; calls: %v", len(b), calls)
	}
	boot := b[0]
	if boot.Via != via {
		t.Errorf("boot came via %q, want %q; calls: %v", boot.Via, via, calls)
	}
	if got := boot.str("user_id"); got != user {
		t.Errorf("boot user_id = %q, want the trusted %q", got, user)
	}
	if got := boot.str("app_id"); got != testAppID {
		t.Errorf("boot app_id = %q, want %q", got, testAppID)
	}
	verifyIntercomJWT(t, boot.str("intercom_user_jwt"), user)
	return boot
}

// Scenario 1: an unchanged legacy page with no Intercom code. With `loader`
// the edge installs the Messenger, which boots exactly once, as the trusted
// user, with a JWT that verifies.
func TestLoaderBootsPlainPage(t *testing.T) {
	upstream := newUpstream(t, map[string]webPage{
		"/": {html: htmlPage("Plain", "", `<h1>No Intercom here</h1>
<script>window.__pageRan = true;</script>`)},
	})
	caddy := startCaddy(t, 1, appSite(upstream, "loader"))
	tb := newTab(t)
	tb.setUser("alice")
	tb.navigate(caddy.appURL("/"))
	tb.waitBooted()
	tb.quiet()

	calls := tb.stubCalls()
	boot := wantOneBoot(t, calls, "alice", "auto")
	if boot.str("api_base") != "https://api-iam.intercom.io" {
		t.Errorf("boot api_base = %q, want the us region's", boot.str("api_base"))
	}
	if len(calls) != 1 {
		t.Errorf("widget got %v, want only the boot", calls)
	}
	var loads int
	tb.eval("window.__stubLoads || 0", &loads)
	if loads != 1 || tb.widgetRequests() != 1 {
		t.Errorf("widget script ran %d times (%d requests), want once", loads, tb.widgetRequests())
	}
	var edge struct {
		Loader bool `json:"loader"`
	}
	tb.eval("window.__intercomEdge", &edge)
	if !edge.Loader {
		t.Errorf("__intercomEdge.loader = false, want the edge's loader to have run")
	}
	var pageRan bool
	tb.eval("window.__pageRan === true", &pageRan)
	if !pageRan {
		t.Errorf("the page's own script did not run")
	}
	if w := tb.widgetURLs(); len(w) != 1 || !strings.HasSuffix(w[0], "/"+testAppID) {
		t.Errorf("widget requested as %v, want %s%s", w, widgetPrefix, testAppID)
	}
}

// Scenario 2: a page that installs Intercom itself and assigns its own
// window.intercomSettings with a forged user_id, a forged JWT and a custom
// key. The Messenger still boots once, as the trusted user, with the edge's
// JWT, and keeps the page's custom key. Our script is injected before the
// page's first <script>, so the page's assignment always comes after it:
// in its first script before the loader, as a classic top-level var, or
// late, in a load handler that runs after the loader's.
func TestPageOwnSettingsAndLoader(t *testing.T) {
	forged := `{app_id: 'forged-app', user_id: 'mallory', intercom_user_jwt: 'forged.jwt.token', custom_key: 'kept'}`
	loader := officialLoader(testAppID)
	pages := map[string]webPage{
		"/settings-then-loader": {html: htmlPage("Own settings", `<script>
window.intercomSettings = `+forged+`;
`+loader+`
</script>`, `<h1>Settings, then the loader</h1>`)},
		"/var-settings": {html: htmlPage("Own var settings", `<script>
var intercomSettings = `+forged+`;
`+loader+`
</script>`, `<h1>A top-level var</h1>`)},
		"/settings-after-load": {html: htmlPage("Late settings", `<script>`+loader+`</script>`, `<h1>Settings assigned after load</h1>
<script>
window.addEventListener('load', function () {
  window.intercomSettings = `+forged+`;
});
</script>`)},
	}
	upstream := newUpstream(t, pages)
	// loader is on: the edge must notice the page's own loader and not
	// install a second one.
	caddy := startCaddy(t, 1, appSite(upstream, "loader"))

	for _, path := range []string{"/settings-then-loader", "/var-settings", "/settings-after-load"} {
		t.Run(path[1:], func(t *testing.T) {
			tb := newTab(t)
			tb.setUser("alice")
			tb.navigate(caddy.appURL(path))
			tb.waitBooted()
			tb.quiet()

			calls := tb.stubCalls()
			boot := wantOneBoot(t, calls, "alice", "auto")
			if got := boot.str("custom_key"); got != "kept" {
				t.Errorf("boot custom_key = %q, want the page's %q; boot: %v", got, "kept", boot)
			}
			var loads int
			tb.eval("window.__stubLoads || 0", &loads)
			if loads != 1 || tb.widgetRequests() != 1 {
				t.Errorf("widget script ran %d times (%d requests), want once", loads, tb.widgetRequests())
			}
			var settings map[string]any
			tb.eval("window.intercomSettings", &settings)
			if settings["user_id"] != "alice" || settings["custom_key"] != "kept" {
				t.Errorf("window.intercomSettings = %s, want the trusted user_id and the page's custom_key", redactMap(settings))
			}
		})
	}
}

// Scenario 3: a single-page app boots the Messenger itself, with a forged
// user_id and no JWT, then calls update on a route change. Every boot and
// update the widget receives carries the trusted identity and a valid JWT,
// also an update with no argument.
func TestSPABootAndUpdate(t *testing.T) {
	upstream := newUpstream(t, map[string]webPage{
		"/": {html: htmlPage("SPA", `<script>`+officialLoader(testAppID)+`</script>`, `<h1>Single-page app</h1>
<script>
Intercom('boot', {app_id: '`+testAppID+`', user_id: 'mallory', name: 'SPA user', custom_key: 'boot'});
// A route change once the Messenger is up.
(function poll() {
  if (window.Intercom && window.Intercom.booted) {
    Intercom('update', {custom_key: 'route-2'});
    window.__updated = true;
  } else {
    setTimeout(poll, 20);
  }
})();
</script>`)},
	})
	caddy := startCaddy(t, 1, appSite(upstream))
	tb := newTab(t)
	tb.setUser("alice")
	tb.navigate(caddy.appURL("/"))
	tb.waitFor("window.__updated === true", bootTimeout, "the page's update after boot")
	tb.eval("Intercom('update')", nil)
	tb.quiet()

	calls := tb.stubCalls()
	if len(calls) != 3 {
		t.Fatalf("widget got %d calls, want boot, update, update: %v", len(calls), calls)
	}
	boot := wantOneBoot(t, calls, "alice", "queue")
	if got := boot.str("custom_key"); got != "boot" {
		t.Errorf("boot custom_key = %q, want the page's %q", got, "boot")
	}
	for i, want := range []struct{ via, custom string }{{"live", "route-2"}, {"live", ""}} {
		c := calls[i+1]
		if c.Method != "update" || c.Via != want.via {
			t.Fatalf("call %d = %v, want an update via %s", i+1, c, want.via)
		}
		if got := c.str("user_id"); got != "alice" {
			t.Errorf("update %d user_id = %q, want the trusted %q", i+1, got, "alice")
		}
		if got := c.str("custom_key"); got != want.custom {
			t.Errorf("update %d custom_key = %q, want %q", i+1, got, want.custom)
		}
		verifyIntercomJWT(t, c.str("intercom_user_jwt"), "alice")
	}
}
