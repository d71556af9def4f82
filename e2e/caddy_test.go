//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
	ports []int // the free ports the config was rendered with
	cmd   *exec.Cmd
	out   *syncBuffer
	done  chan struct{}
}

// freePort asks the OS for a free loopback port. Other test packages run
// Caddy on fixed ports (2019, 2999, 9080, 9443) at the same time, so the
// e2e configs never use a fixed one.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCaddy runs the caddy binary with the Caddyfile render returns for
// nPorts free ports, waits until every port accepts connections, and stops
// the process when the test ends. Another process can take a port between
// our probe and Caddy's bind, so a start that fails on a taken address is
// retried with new ports.
func startCaddy(t *testing.T, nPorts int, render func(ports []int) string) *caddyProc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ports := make([]int, nPorts)
		for i := range ports {
			ports[i] = freePort(t)
		}
		p, err := tryStartCaddy(t, ports, render(ports))
		if err == nil {
			return p
		}
		if attempt < 3 && strings.Contains(err.Error(), "address already in use") {
			t.Logf("caddy start attempt %d: %v; retrying with other ports", attempt, err)
			continue
		}
		t.Fatalf("starting caddy: %v", err)
	}
}

func tryStartCaddy(t *testing.T, ports []int, caddyfile string) (*caddyProc, error) {
	dir := t.TempDir()
	config := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(config, []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	p := &caddyProc{ports: ports, out: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(caddyBin, "run", "--config", config, "--adapter", "caddyfile")
	p.cmd.Dir = dir
	// Caddy keeps its autosave and storage under these: keep them per test.
	p.cmd.Env = append(testEnv(),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"HOME="+dir,
	)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()

	deadline := time.Now().Add(15 * time.Second)
	for _, port := range ports {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		for {
			select {
			case <-p.done:
				return nil, fmt.Errorf("caddy exited: %s\n%s", p.cmd.ProcessState, p.out.String())
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				p.stop()
				return nil, fmt.Errorf("caddy did not listen on %s within 15s:\n%s", addr, p.out.String())
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("caddy output:\n%s", p.out.String())
		}
	})
	return p, nil
}

// testEnv is the environment for caddy: ours, without the variables the
// demo config reads (a developer's real INTERCOM_SECRET must not change
// what the tests sign with).
func testEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INTERCOM_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop ends the process we started (by its pid), gracefully first.
func (p *caddyProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
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
