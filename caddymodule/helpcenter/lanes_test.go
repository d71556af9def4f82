package helpcenter

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// Issue 13, item 1: what the Help Center proxy must never carry across.
// These tests run a real Caddy (caddytest) with Caddy's own forward_auth and
// the intercom handler, in front of plain-HTTP stand-in origins.

// laneOriginSetCookies are answered by the lane origin on every response:
// two that may reach the browser and three that must not.
var laneOriginSetCookies = []string{
	"session=evil; Domain=.example.com; Path=/; HttpOnly",        // the app's session, overwritten for the whole domain
	"intercom-session-abc=new; Domain=.example.com; Path=/",      // the Messenger's: allowed anywhere on the domain
	`hc-locale="en"; Path=/; Secure; HttpOnly`,                   // host-only: cannot touch the app's cookies
	"tracker=1; Path=/; domain=example.com",                      // attribute names are case-insensitive
	"Intercom-session-abc=x; Domain=.example.com; Max-Age=86400", // cookie names are case-sensitive
}

// laneOriginAllowed are the laneOriginSetCookies a browser may see.
var laneOriginAllowed = []string{laneOriginSetCookies[1], laneOriginSetCookies[2]}

// laneOrigin stands in for the Help Center origin: it answers with body
// and laneOriginSetCookies, and records the request headers it received.
type laneOrigin struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newLaneOrigin(t *testing.T, contentType, body string) *laneOrigin {
	t.Helper()
	o := &laneOrigin{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.seen = append(o.seen, r.Header.Clone())
		o.mu.Unlock()
		w.Header()["Set-Cookie"] = laneOriginSetCookies
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *laneOrigin) addr() string { return o.srv.Listener.Addr().String() }

// last returns the headers of the last request the origin received.
func (o *laneOrigin) last(t *testing.T) http.Header {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seen) == 0 {
		t.Fatal("the origin received no request")
	}
	return o.seen[len(o.seen)-1]
}

func (o *laneOrigin) requests() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// startLaneCaddy loads sites (after the test globals) into the in-process Caddy.
func startLaneCaddy(t *testing.T, sites string) {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: testAdminPort})
	tester.InitServer(fmt.Sprintf(testGlobals, testAdmin, testHTTPPort)+sites, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
}

// laneGet requests url (any host name resolves to the in-process Caddy)
// with the given header lines and returns the response and its body.
func laneGet(t *testing.T, url string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := newTestClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// browserCredentials are what a browser behind basic_auth (and a client
// talking to a forward proxy) sends on every request to the site.
var browserCredentials = http.Header{
	"Authorization":       {"Basic YWxpY2U6YXBwLXBhc3N3b3Jk"}, // alice:app-password
	"Proxy-Authorization": {"Basic cHJveHk6cHJveHktcGFzc3dvcmQ="},
	"X-Request-Id":        {"kept-1"},
}

// TestHelpCenterNeverForwardsCredentials: the app's Authorization (the
// README's subpath setup behind basic_auth) and Proxy-Authorization never
// reach the origin; other headers do.
func TestHelpCenterNeverForwardsCredentials(t *testing.T) {
	origin := newLaneOrigin(t, "application/json", "{}")
	startLaneCaddy(t, fmt.Sprintf(`
http://help.example.com:%d {
	intercom_help_center {
		origin http://%s
		app_domain app.example.com
	}
}
`, testHTTPPort, origin.addr()))

	resp, _ := laneGet(t, fmt.Sprintf("http://help.example.com:%d/hc/en", testHTTPPort), browserCredentials)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := origin.last(t)
	for _, name := range []string{"Authorization", "Proxy-Authorization"} {
		if v, ok := got[name]; ok {
			t.Errorf("the origin received %s: %q", name, v)
		}
	}
	if got.Get("X-Request-Id") != "kept-1" {
		t.Errorf("the origin did not receive X-Request-Id; headers %v", got)
	}
}

// TestHelpCenterSetCookieLanes: only host-only and intercom-* cookies from
// the origin reach the browser, with forward_cookies intercom and all.
func TestHelpCenterSetCookieLanes(t *testing.T) {
	origin := newLaneOrigin(t, "text/html; charset=utf-8", "<!doctype html><title>Help</title>")
	startLaneCaddy(t, fmt.Sprintf(`
http://help.example.com:%[1]d {
	intercom_help_center {
		origin http://%[2]s
		app_domain app.example.com
	}
}
http://all.example.com:%[1]d {
	intercom_help_center {
		origin http://%[2]s
		app_domain app.example.com
		forward_cookies all
	}
}
`, testHTTPPort, origin.addr()))

	for _, host := range []string{"help.example.com", "all.example.com"} {
		t.Run(host, func(t *testing.T) {
			resp, body := laneGet(t, fmt.Sprintf("http://%s:%d/hc/en", host, testHTTPPort), nil)
			if resp.StatusCode != http.StatusOK || body != "<!doctype html><title>Help</title>" {
				t.Fatalf("status %d body %q", resp.StatusCode, body)
			}
			if got := resp.Header["Set-Cookie"]; !reflect.DeepEqual(got, laneOriginAllowed) {
				t.Errorf("browser got Set-Cookie\n%q\nwant only\n%q", got, laneOriginAllowed)
			}
		})
	}
}

// TestHelpCenterStripHeaders: the identity headers a forward_auth copies
// into the request are removed by strip_headers (and reach the origin
// without it, which shows the test can fail).
func TestHelpCenterStripHeaders(t *testing.T) {
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Remote-User", "alice")
		w.Header().Set("Remote-Email", "alice@example.com")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(auth.Close)
	origin := newLaneOrigin(t, "application/json", "{}")
	site := func(host, extra string) string {
		return fmt.Sprintf(`
http://%s:%d {
	forward_auth %s {
		uri /verify
		copy_headers Remote-User Remote-Email
	}
	intercom_help_center {
		origin http://%s
		app_domain app.example.com
		%s
	}
}
`, host, testHTTPPort, auth.Listener.Addr(), origin.addr(), extra)
	}
	startLaneCaddy(t, site("help.example.com", "strip_headers Remote-User\n\t\tstrip_headers remote-email X-Internal-Trace")+
		site("nostrip.example.com", ""))

	hdr := http.Header{"X-Internal-Trace": {"t1"}, "X-Request-Id": {"kept-1"}}
	tests := []struct {
		host       string
		wantAbsent []string
		wantSent   map[string]string
	}{
		{"help.example.com", []string{"Remote-User", "Remote-Email", "X-Internal-Trace"}, map[string]string{"X-Request-Id": "kept-1"}},
		{"nostrip.example.com", nil, map[string]string{"Remote-User": "alice", "Remote-Email": "alice@example.com", "X-Internal-Trace": "t1"}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			resp, _ := laneGet(t, fmt.Sprintf("http://%s:%d/hc/en", tt.host, testHTTPPort), hdr)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := origin.last(t)
			for _, name := range tt.wantAbsent {
				if v, ok := got[name]; ok {
					t.Errorf("the origin received %s: %q", name, v)
				}
			}
			for name, want := range tt.wantSent {
				if v := got.Get(name); v != want {
					t.Errorf("the origin received %s %q, want %q", name, v, want)
				}
			}
		})
	}
}

// TestHelpCenterSubpathNotInjected: in the README's subpath setup the
// intercom handler leaves the Help Center's pages alone (no script, no
// identity, no cookies, no header changes) and still injects elsewhere.
func TestHelpCenterSubpathNotInjected(t *testing.T) {
	const page = "<!doctype html><html><head><title>Page</title><script>var page = 1;</script></head><body>x</body></html>"
	origin := newLaneOrigin(t, "text/html; charset=utf-8", page)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}))
	t.Cleanup(app.Close)
	startLaneCaddy(t, fmt.Sprintf(`
http://app.example.com:%d {
	intercom {
		app_id tst4pp
		secret test-messenger-secret-0123456789
		user_id {http.request.header.X-User}
		trust 127.0.0.1/32
	}
	intercom_help_center /support* {
		origin http://%s
		app_domain app.example.com
	}
	reverse_proxy %s
}
`, testHTTPPort, origin.addr(), app.Listener.Addr()))

	base := fmt.Sprintf("http://app.example.com:%d", testHTTPPort)
	tests := []struct {
		name     string
		path     string
		hdr      http.Header
		injected bool
	}{
		{"help center page, identified", "/support/articles/1", http.Header{"X-User": {"alice"}}, false},
		{"help center root, identified", "/support", http.Header{"X-User": {"alice"}}, false},
		// A stale marker makes the handler clear the old session on an
		// anonymous page: not on Intercom's.
		{"help center page, stale session", "/support/articles/1", http.Header{"Cookie": {"caddy_intercom_user=stale"}}, false},
		{"app page, identified", "/dashboard", http.Header{"X-User": {"alice"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := origin.requests()
			resp, body := laneGet(t, base+tt.path, tt.hdr)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			fromOrigin := origin.requests() > before
			if fromOrigin == tt.injected {
				t.Fatalf("served by the Help Center origin: %v; the test expects the opposite", fromOrigin)
			}
			injected := strings.Contains(body, "intercomSettings") || strings.Contains(body, "intercom_user_jwt")
			if injected != tt.injected {
				t.Errorf("injected = %v, want %v; body starts %q", injected, tt.injected, head(body))
			}
			if tt.injected {
				return
			}
			if body != page {
				t.Errorf("the Help Center page changed; it starts %q", head(body))
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=300" {
				t.Errorf("Cache-Control %q, want the origin's", got)
			}
			if got := resp.Header["Set-Cookie"]; !reflect.DeepEqual(got, laneOriginAllowed) {
				t.Errorf("Set-Cookie %q, want only the origin's allowed cookies %q", got, laneOriginAllowed)
			}
		})
	}
}

// head shortens a page for a failure message.
func head(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// TestHelpCenterUpgradeThroughCookieFilter: a protocol upgrade (101, then
// a hijacked connection) still works through the Set-Cookie filter, and
// the 101's own cookies are filtered too.
func TestHelpCenterUpgradeThroughCookieFilter(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Set-Cookie: session=evil; Domain=.example.com\r\nSet-Cookie: ws=1; Path=/\r\n\r\n")
		_ = brw.Flush()
		line, err := brw.ReadString('\n') // echo one line
		if err == nil {
			_, _ = brw.WriteString("echo " + line)
			_ = brw.Flush()
		}
	}))
	t.Cleanup(origin.Close)
	startLaneCaddy(t, fmt.Sprintf(`
http://help.example.com:%d {
	intercom_help_center {
		origin http://%s
		app_domain app.example.com
	}
}
`, testHTTPPort, origin.Listener.Addr()))

	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", testHTTPPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET /hc/socket HTTP/1.1\r\nHost: help.example.com:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", testHTTPPort)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if got := resp.Header["Set-Cookie"]; !reflect.DeepEqual(got, []string{"ws=1; Path=/"}) {
		t.Errorf("the 101 carried Set-Cookie %q, want only the host-only ws=1", got)
	}
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "echo ping\n" {
		t.Errorf("over the upgraded connection got %q, %v; want the echo", line, err)
	}
}
