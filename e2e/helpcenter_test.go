//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// helpCenterModule is the handler of the Help Center issue (5).
const helpCenterModule = "http.handlers.intercom_help_center"

// Scenario 7: the Messenger's session cookie, set by the widget on
// app.example.test for the registrable domain, reaches the Help Center
// origin through help.example.test; the app's own session cookie on the
// same domain does not. The origin records the Cookie header it received.
//
// This needs intercom_help_center in the binary. Without it the test fails
// (it does not skip): a run that silently leaves the Help Center out would
// look green.
func TestHelpCenterCookieForwarding(t *testing.T) {
	out, err := exec.Command(caddyBin, "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("caddy list-modules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), helpCenterModule+"\n") {
		t.Fatalf("%s is not in the caddy binary built from ./cmd/caddy: merge the Help Center work (issue 5) first", helpCenterModule)
	}

	upstream := newUpstream(t, map[string]webPage{
		"/": {
			html: htmlPage("App", "", `<h1>App</h1><p><a id="help" href="/">Help</a></p>`),
			// The app's own login session, on the whole domain as many apps do.
			headers: map[string]string{"Set-Cookie": "app_session=app-secret-session; Domain=example.test; Path=/; HttpOnly; SameSite=Lax"},
		},
	})

	var (
		mu   sync.Mutex
		seen []http.Header
		host []string
	)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		host = append(host, r.Host)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, htmlPage("Help Center", "", `<h1>Help Center</h1>`))
	}))
	t.Cleanup(origin.Close)

	caddy := startCaddy(t, 1, func(ports []int) string {
		return globalOptions(ports[0]) + appSiteBlock(ports[0], upstream, "loader") + fmt.Sprintf(`
http://%s:%d {
	bind 127.0.0.1
	intercom_help_center {
		origin %s
		app_domain %s
	}
}
`, helpHost, ports[0], origin.URL, appHost)
	})

	tb := newTab(t)
	tb.setUser("alice")
	tb.navigate(caddy.appURL("/"))
	tb.waitBooted()
	tb.wantSession(caddy.appURL("/"), "alice")
	if tb.cookies(caddy.appURL("/"))["app_session"] == nil {
		t.Fatal("the app's session cookie was not set; the test would prove nothing")
	}

	tb.setUser("")
	helpURL := fmt.Sprintf("http://%s:%d/articles/42?q=refund", helpHost, caddy.ports[0])
	tb.navigate(helpURL)
	// The browser sends both cookies to help.example.test ...
	jar := tb.cookies(helpURL)
	if jar[sessionCookie] == nil || jar["app_session"] == nil {
		t.Fatalf("browser would send %s to the Help Center, want both %s and app_session", cookieNames(jar), sessionCookie)
	}

	// ... and the edge forwards only the Messenger's.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the Help Center origin got no request")
	}
	cookie := seen[0].Get("Cookie")
	if !strings.Contains(cookie, sessionCookie+"=stub%3Aalice") {
		t.Errorf("origin got Cookie %q, want the Messenger session %s of alice", cookie, sessionCookie)
	}
	if strings.Contains(cookie, "app_session") || strings.Contains(cookie, "app-secret-session") {
		t.Errorf("origin got the app's own session cookie: Cookie %q", cookie)
	}
	if want := fmt.Sprintf("%s:%d", helpHost, caddy.ports[0]); host[0] != want && host[0] != helpHost {
		t.Errorf("origin got Host %q, want the Help Center's own host %q", host[0], helpHost)
	}
}
