//go:build soak

package bench

import (
	"crypto/rsa"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/bench/harness"
	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
)

// caddyBin is the binary under test (testcaddy.Binary: the one test.sh
// hands in, possibly built with -race, or ./cmd/caddy built here).
var caddyBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	defer testcaddy.Cleanup()
	var err error
	if caddyBin, err = testcaddy.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// nonRaceCaddy returns a caddy binary built without the race detector.
func nonRaceCaddy(t *testing.T) string {
	t.Helper()
	bin, err := testcaddy.PlainBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// startCaddy runs bin with the given site blocks (fmt verbs already
// applied) listening on ports, with the admin endpoint on a free port. It
// is stopped at the end of the test; its logs are shown when the test
// failed, and a race report in them fails it.
func startCaddy(t *testing.T, bin, sites string, ports ...int) *testcaddy.Caddy {
	t.Helper()
	admin, err := testcaddy.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	opts := harness.Options{Sites: sites, IdleTimeout: 2 * time.Second}
	return testcaddy.StartT(t, testcaddy.Options{Bin: bin, Caddyfile: opts.Config(admin), Ports: ports, AdminPort: admin})
}

// ports returns n free loopback ports.
func ports(t *testing.T, n int) []int {
	t.Helper()
	p, err := testcaddy.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The keep-alive timeouts between caddy and the test upstreams. The side
// that closes an idle connection must be caddy: when the upstream closes
// one at the moment caddy reuses it for a request, caddy gets a connection
// reset and answers 502 (TestSoak failed that way about once in three runs,
// with the upstream's 1 s idle timeout under Caddy's default of 2 min). So
// caddy drops idle upstream connections after caddyUpstreamKeepalive
// (reverse_proxy's `keepalive`), well before the upstream would, and the
// pool still drains quickly enough for goroutine counts to settle.
const (
	caddyUpstreamKeepalive = "keepalive 1s"
	upstreamIdleTimeout    = 30 * time.Second
)

// startUpstream serves h on a loopback port in this process, with idle and
// header timeouts far longer than caddy's keep-alive to it (see
// caddyUpstreamKeepalive): a connection Go's transport dialled and then did
// not need sits idle in caddy's pool too, and only caddy may close it.
func startUpstream(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.IdleTimeout = upstreamIdleTimeout
	srv.Config.ReadHeaderTimeout = upstreamIdleTimeout
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// keyFile writes the shared test key as a Salesforce key file and returns
// its path and key.
func keyFile(t *testing.T) (string, *rsa.PrivateKey) {
	t.Helper()
	k := testkeys.RSA()
	path := filepath.Join(t.TempDir(), "salesforce.key.pem")
	if err := os.WriteFile(path, testkeys.PKCS8PEM(k), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, k
}

// siteURL is the base URL of a site on port.
func siteURL(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

// waitGoroutines waits for caddy's goroutines to come back to at most
// baseline+slack, and fails the test with a goroutine dump otherwise. The
// count is caddy's process-wide one on purpose: these tests look for leaks
// anywhere on the request path (caddy's, reverse_proxy's and ours).
func waitGoroutines(t *testing.T, c *testcaddy.Caddy, baseline, slack int) int {
	t.Helper()
	n, err := c.WaitGoroutines(baseline+slack, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if n > baseline+slack {
		t.Errorf("caddy runs %d goroutines, baseline %d (+%d allowed): leak?\n%s", n, baseline, slack, tail(c.GoroutineDump(), 30000))
	}
	return n
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// dialer for clients: loopback only, bounded.
var dialer = &net.Dialer{Timeout: 5 * time.Second}
