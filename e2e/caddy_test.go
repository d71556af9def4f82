//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
)

// Fixtures shared by the scenarios.
const (
	testAppID  = "e2eapp01"
	testSecret = "e2e-messenger-api-secret-0123456789abcdef"
	// userHeader carries the test user from the browser (an extra HTTP
	// header set through the DevTools protocol) to the edge, which trusts
	// it from 127.0.0.1 only, as from an authenticating proxy.
	userHeader = "X-Test-User"
)

// caddyProc is a caddy binary running one test's config.
type caddyProc struct {
	*testcaddy.Caddy
	ports []int // the free ports the config was rendered with
}

// freePort returns a free loopback port (testcaddy.FreePort: never one of
// the fixed ports other test packages use, never one handed out before).
func freePort(t *testing.T) int {
	t.Helper()
	p, err := testcaddy.FreePort()
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	return p
}

// testEnv is the environment for caddy commands the tests run themselves:
// ours, without the variables the demo config reads (a developer's real
// INTERCOM_SECRET must not change what the tests sign with).
func testEnv() []string { return testcaddy.Environ("INTERCOM_") }

// startCaddy runs the caddy binary with the Caddyfile render returns for
// nPorts free ports, waits until every port accepts connections, and stops
// the process when the test ends (testcaddy.StartFree: a start that fails
// on a port another process took meanwhile is retried with new ports). The
// environment caddy gets has no INTERCOM_* variables: a developer's real
// INTERCOM_SECRET must not change what the tests sign with.
func startCaddy(t *testing.T, nPorts int, render func(ports []int) string) *caddyProc {
	t.Helper()
	c := testcaddy.StartFree(t, nPorts, func(ports []int) testcaddy.Options {
		return testcaddy.Options{Bin: caddyBin, Caddyfile: render(ports), Ports: ports, DropEnv: []string{"INTERCOM_"}}
	})
	return &caddyProc{Caddy: c, ports: c.Ports}
}

// appSite renders a config with one site, http://app.example.test:<port>,
// where the intercom handler (identity from userHeader, trusted from
// loopback, plus the given extra sub-directives) fronts upstream.
func appSite(upstream string, extra ...string) func(ports []int) string {
	return func(ports []int) string {
		return globalOptions(ports[0]) + appSiteBlock(ports[0], upstream, extra...)
	}
}

// globalOptions keeps Caddy off every fixed port: no admin endpoint, no
// automatic HTTPS, the default HTTP port moved to ours.
func globalOptions(httpPort int) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
	http_port %d
	grace_period 1s
}
`, httpPort)
}

func appSiteBlock(port int, upstream string, extra ...string) string {
	var sub strings.Builder
	for _, e := range extra {
		sub.WriteString("\t\t" + e + "\n")
	}
	return fmt.Sprintf(`
http://%s:%d {
	bind 127.0.0.1
	intercom {
		app_id %s
		secret %s
		user_id {http.request.header.%s}
		email {http.request.header.%s}@example.test
		attribute plan e2e
		trust 127.0.0.1
%s	}
	reverse_proxy %s
}
`, appHost, port, testAppID, testSecret, userHeader, userHeader, sub.String(), upstream)
}

// appURL is the address of path on the app site of p.
func (p *caddyProc) appURL(path string) string {
	return fmt.Sprintf("http://%s:%d%s", appHost, p.ports[0], path)
}

// upstream serves the scenario's pages (path → HTML) as the "legacy app"
// behind the edge. headers adds response headers per path.
type webPage struct {
	html    string
	headers map[string]string
}

func newUpstream(t *testing.T, pages map[string]webPage) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		for k, v := range p.headers {
			w.Header().Set(k, v)
		}
		fmt.Fprint(w, p.html)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// officialLoader is Intercom's install snippet for appID, as customers paste it.
func officialLoader(appID string) string {
	return `(function(){var w=window;var ic=w.Intercom;if(typeof ic==="function"){ic('update',w.intercomSettings);}else{var d=document;var i=function(){i.c(arguments);};i.q=[];i.c=function(args){i.q.push(args);};w.Intercom=i;var l=function(){var s=d.createElement('script');s.type='text/javascript';s.async=true;s.src='https://widget.intercom.io/widget/' + '` +
		appID + `';var x=d.getElementsByTagName('script')[0];x.parentNode.insertBefore(s, x);};if(document.readyState==='complete'){l();}else if(w.attachEvent){w.attachEvent('onload',l);}else{w.addEventListener('load',l,false);}}})();`
}

// htmlPage is a minimal document around head and body markup.
func htmlPage(title, head, body string) string {
	return "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + title + "</title>\n" +
		head + "\n</head>\n<body>\n" + body + "\n</body>\n</html>\n"
}
