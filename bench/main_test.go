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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/bench/harness"
)

var (
	// caddyBin is the binary under test; raceCaddy says it was built with
	// the race detector (BENCH_CADDY_RACE=1).
	caddyBin  string
	raceCaddy bool
	binDir    string

	// plainBin is a binary without the race detector, for the memory
	// tests (the race runtime's shadow memory would swamp the figures).
	plainBinOnce sync.Once
	plainBin     string
	plainBinErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	root, err := harness.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir, err = os.MkdirTemp("", "intercom-bench-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	raceCaddy = os.Getenv("BENCH_CADDY_RACE") == "1"
	caddyBin = filepath.Join(binDir, "caddy")
	if err := harness.BuildCaddy(root, caddyBin, raceCaddy); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !raceCaddy {
		plainBin = caddyBin
		plainBinOnce.Do(func() {})
	}
	return m.Run()
}

// nonRaceCaddy returns a caddy binary built without the race detector.
func nonRaceCaddy(t *testing.T) string {
	t.Helper()
	plainBinOnce.Do(func() {
		root, err := harness.ModuleRoot()
		if err != nil {
			plainBinErr = err
			return
		}
		plainBin = filepath.Join(binDir, "caddy-norace")
		plainBinErr = harness.BuildCaddy(root, plainBin, false)
	})
	if plainBinErr != nil {
		t.Fatal(plainBinErr)
	}
	return plainBin
}

// startCaddy runs bin with the given site blocks (fmt verbs already
// applied) listening on ports. It is stopped at the end of the test; its
// logs are shown when the test failed, and a race report in them fails it.
func startCaddy(t *testing.T, bin, sites string, ports ...int) *harness.Caddy {
	t.Helper()
	c, err := harness.StartCaddy(harness.Options{Bin: bin, Sites: sites, Ports: ports, IdleTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		logs := c.Logs()
		if strings.Contains(logs, "WARNING: DATA RACE") {
			t.Errorf("caddy reported a data race:\n%s", logs)
		} else if t.Failed() {
			t.Logf("caddy logs:\n%s", tail(logs, 20000))
		}
	})
	return c
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// ports returns n free loopback ports.
func ports(t *testing.T, n int) []int {
	t.Helper()
	p, err := harness.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startUpstream serves h on a loopback port in this process. Idle
// keep-alive connections are closed after a second, so that caddy's pool of
// upstream connections drains quickly and goroutine counts settle. That
// includes connections on which no request ever came: Go's transport may
// dial one for a request that an idle connection then served, and keep it;
// only ReadHeaderTimeout closes those.
func startUpstream(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.IdleTimeout = time.Second
	srv.Config.ReadHeaderTimeout = time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// keyFile writes a fresh Salesforce key and returns its path and key.
func keyFile(t *testing.T) (string, *rsa.PrivateKey) {
	t.Helper()
	k, pemBytes, err := harness.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "salesforce.key.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, k
}

// siteURL is the base URL of a site on port.
func siteURL(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

// waitGoroutines waits for caddy's goroutines to come back to at most
// baseline+slack, and fails the test with a goroutine dump otherwise.
func waitGoroutines(t *testing.T, c *harness.Caddy, baseline, slack int) int {
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

// dialer for clients: loopback only, bounded.
var dialer = &net.Dialer{Timeout: 5 * time.Second}
