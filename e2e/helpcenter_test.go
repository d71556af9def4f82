//go:build e2e

package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"

	"github.com/caddy-intercom/caddy-intercom/injector"
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

// Issue 13 item 1 in the browser: the README's subpath setup behind an
// app login. The app's password (here an Authorization header on every
// request, as after a basic_auth login) never reaches the Help Center
// origin; a cookie the origin sets for the whole domain cannot replace the
// app's session; Intercom's own page gets no script and no identity.
func TestHelpCenterSubpathInBrowser(t *testing.T) {
	upstream := newUpstream(t, map[string]webPage{
		"/": {
			html:    htmlPage("App", "", `<h1>App</h1>`),
			headers: map[string]string{"Set-Cookie": "app_session=app-secret-session; Domain=example.test; Path=/; HttpOnly; SameSite=Lax"},
		},
	})
	var (
		mu   sync.Mutex
		seen []http.Header
	)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.Header()["Set-Cookie"] = []string{
			"app_session=evil; Domain=example.test; Path=/",     // would log the user into another account
			"intercom-help-pref=1; Domain=example.test; Path=/", // the Messenger's lane
			"help_locale=en; Path=/support",                     // host-only
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, htmlPage("Help Center", "", `<h1 id="hc">Help Center</h1>`))
	}))
	t.Cleanup(origin.Close)

	caddy := startCaddy(t, 1, func(ports []int) string {
		return globalOptions(ports[0]) + fmt.Sprintf(`
http://%s:%d {
	bind 127.0.0.1
	intercom {
		app_id %s
		secret %s
		user_id {http.request.header.%s}
		trust 127.0.0.1
	}
	intercom_help_center /support* {
		origin %s
		app_domain %s
	}
	reverse_proxy %s
}
`, appHost, ports[0], testAppID, testSecret, userHeader, origin.URL, appHost, upstream)
	})

	const password = "Basic YWxpY2U6YXBwLXBhc3N3b3Jk" // alice:app-password
	tb := newTab(t)
	tb.setHeaders(network.Headers{userHeader: "alice", "Authorization": password})
	tb.navigate(caddy.appURL("/"))
	var identified bool
	tb.eval("!!(window.intercomSettings && window.intercomSettings.intercom_user_jwt)", &identified)
	if !identified {
		t.Fatal("the app page was not injected; the test would prove nothing")
	}

	tb.navigate(caddy.appURL("/support/articles/42"))
	var state struct {
		Title    string `json:"title"`
		Settings bool   `json:"settings"`
		Scripts  int    `json:"scripts"`
	}
	tb.eval(`({title: document.getElementById('hc') ? document.getElementById('hc').textContent : '',
		settings: 'intercomSettings' in window, scripts: document.scripts.length})`, &state)
	if state.Title != "Help Center" {
		t.Fatalf("the /support page is not the Help Center's: %+v", state)
	}
	if state.Settings || state.Scripts != 0 {
		t.Errorf("the Help Center page was injected into: intercomSettings %v, %d scripts", state.Settings, state.Scripts)
	}

	mu.Lock()
	if len(seen) != 1 {
		t.Errorf("the origin got %d requests, want 1", len(seen))
	}
	for _, h := range seen {
		if v := h.Values("Authorization"); len(v) != 0 {
			t.Errorf("the origin got Authorization %q", v)
		}
	}
	mu.Unlock()

	jar := tb.cookies(caddy.appURL("/support/articles/42"))
	if c := jar["app_session"]; c == nil || c.Value != "app-secret-session" {
		t.Errorf("the app's session cookie is now %+v, want app-secret-session untouched", c)
	}
	if jar["intercom-help-pref"] == nil || jar["help_locale"] == nil {
		t.Errorf("browser has %s, want intercom-help-pref and help_locale from the Help Center", cookieNames(jar))
	}
}

// The demo's stand-in Help Center (issue 16 item 6), as Caddyfile.example
// ships it: logged in as demo, /help/ shows that no Authorization and only
// intercom-* cookies reached the Help Center origin.
func TestDemoHelpCenterStandIn(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "intercom_help_center /help*") || !strings.Contains(string(src), "Stand-in Help Center origin") {
		t.Fatal("Caddyfile.example has lost its stand-in Help Center (the /help subpath and the stand-in origin)")
	}
	ports, edge, render := demoConfig(t)
	caddy := startCaddy(t, len(ports), render)
	tb := newTab(t)
	tb.setHeaders(network.Headers{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("demo:demo"))})
	appURL := fmt.Sprintf("http://localhost:%d/", caddy.ports[edge])
	tb.navigate(appURL)
	tb.waitBooted() // the stub Messenger sets its intercom-* cookies
	if jar := tb.cookies(appURL); jar[injector.MarkerCookie] == nil {
		t.Fatalf("after the demo page the browser has %s, want the marker cookie too; the test would prove less", cookieNames(jar))
	}

	tb.navigate(appURL + "help/")
	var text string
	tb.eval("document.body.innerText", &text)
	t.Logf("the stand-in's page:\n%s", text)
	if !strings.HasPrefix(text, "Stand-in Help Center origin") {
		t.Fatalf("/help/ is not the stand-in's page")
	}
	if !strings.Contains(text, "Authorization  not received") {
		t.Error("the stand-in received Authorization")
	}
	_, line, _ := strings.Cut(text, "Cookies        ")
	line, _, _ = strings.Cut(line, "\n")
	names := strings.Fields(line)
	if len(names) == 0 {
		t.Error("no cookie reached the stand-in; want the Messenger's intercom-* cookies")
	}
	for _, name := range names {
		if !strings.HasPrefix(name, "intercom-") {
			t.Errorf("cookie %s reached the Help Center origin", name)
		}
	}
}
