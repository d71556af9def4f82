//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
)

// chromiumEnv names the variable that overrides the browser path.
const chromiumEnv = "E2E_CHROMIUM"

// defaultChromium is where Debian's chromium package puts the browser.
const defaultChromium = "/usr/bin/chromium"

var (
	// caddyBin is the caddy binary under test (testcaddy.Binary: handed in
	// by test.sh, or built from ./cmd/caddy once for this run).
	caddyBin string
	// browserCtx is the chromedp context of the one browser all tests share;
	// each test opens its tab in a fresh browser context (own cookies).
	browserCtx context.Context
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	chromium, err := findChromium()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: %v\n", err)
		return 1
	}

	dir, err := os.MkdirTemp("", "caddy-intercom-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)

	defer testcaddy.Cleanup()
	start := time.Now()
	if caddyBin, err = testcaddy.Binary(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: %v\n", err)
		return 1
	}
	if testing.Verbose() {
		fmt.Printf("e2e: caddy %s ready in %s; browser %s\n", caddyBin, time.Since(start).Round(time.Millisecond), chromium)
	}

	var browserLog syncBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browserOptions(chromium, filepath.Join(dir, "profile"), &browserLog)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first Do starts the browser and binds its life to ctx (a context
	// with a deadline would end the browser with it), so the start is timed
	// from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(60 * time.Second):
		err = errors.New("no answer within 60s")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: starting %s: %v\n%s", chromium, err, browserLog.String())
		return 1
	}
	browserCtx = ctx
	return m.Run()
}

// findChromium returns the browser to drive. A missing browser is an
// error, never a skip: a green run without a browser would prove nothing.
func findChromium() (string, error) {
	path := os.Getenv(chromiumEnv)
	if path == "" {
		path = defaultChromium
	}
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil && os.Getenv(chromiumEnv) == "" {
			return p, nil
		}
		return "", fmt.Errorf("no Chromium at %s (%v): install it with `apt-get install -y chromium`, or set %s to a Chrome/Chromium binary", path, errors.Unwrap(err), chromiumEnv)
	}
	return path, nil
}

// testHosts are the names the browser resolves to loopback: an app and its
// Help Center on one registrable domain, as in production.
const (
	appHost  = "app.example.test"
	helpHost = "help.example.test"
)

// hostRules keeps the browser on this machine: the test hosts go to
// loopback, everything else (the widget host included, which the tests
// answer through the Fetch domain before any lookup) fails to resolve.
// localhost and 127.0.0.1 are left alone for the demo.
var hostRules = strings.Join([]string{
	"MAP " + appHost + " 127.0.0.1",
	"MAP " + helpHost + " 127.0.0.1",
	"MAP * ~NOTFOUND",
	"EXCLUDE localhost",
	"EXCLUDE 127.0.0.1",
}, ", ")

// browserOptions are chromedp's defaults plus the flags that keep Chromium
// headless, off the network and free of background work, with a fresh
// profile.
func browserOptions(chromium, profile string, log *syncBuffer) []chromedp.ExecAllocatorOption {
	opts := append([]chromedp.ExecAllocatorOption(nil), chromedp.DefaultExecAllocatorOptions[:]...)
	return append(opts,
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		// HTTPS upgrades would try https:// for the test hosts first.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,MediaRouter,OptimizationHints"),
		chromedp.Flag("host-resolver-rules", hostRules),
		chromedp.CombinedOutput(log),
	)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (a process's
// output) and readers (the test).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
