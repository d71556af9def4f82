//go:build e2e

package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// updateScreenshotEnv names the variable that makes TestDemoCaddyfileExample
// rewrite docs/demo.png (the README's screenshot) with what it sees.
const updateScreenshotEnv = "E2E_UPDATE_SCREENSHOT"

// demoScreenshot is the README's screenshot, relative to this package.
var demoScreenshot = filepath.Join("..", "docs", "demo.png")

// The demo's defaults (Caddyfile.example).
const (
	demoSecret = "demo-messenger-api-secret"
	demoAppID  = "demo0app"
)

// demoPort matches a port in a listener or upstream address.
var demoPort = regexp.MustCompile(`:(\d{2,5})\b`)

// demoEdge matches the edge's site address, the one a newcomer opens.
var demoEdge = regexp.MustCompile(`(?m)^http://localhost:(\d+) \{`)

// demoConfig reads Caddyfile.example and returns it with every port it
// uses outside comments (the edge, the demo upstream, the Help Center site,
// the admin endpoint) moved to a free one, and the index of the edge's port.
// Everything else is kept, so the test runs the demo a newcomer runs.
func demoConfig(t *testing.T) (ports []string, edge int, render func(free []int) string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	index := map[string]int{}
	for _, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range demoPort.FindAllStringSubmatch(line, -1) {
			if _, ok := index[m[1]]; !ok {
				index[m[1]] = len(ports)
				ports = append(ports, m[1])
			}
		}
	}
	m := demoEdge.FindStringSubmatch(string(src))
	if m == nil {
		t.Fatal("Caddyfile.example has no http://localhost:<port> site: update demoConfig")
	}
	edge = index[m[1]]
	render = func(free []int) string {
		var b strings.Builder
		for _, line := range lines {
			if !strings.HasPrefix(strings.TrimSpace(line), "#") {
				line = demoPort.ReplaceAllStringFunc(line, func(s string) string {
					return fmt.Sprintf(":%d", free[index[s[1:]]])
				})
			}
			b.WriteString(line)
		}
		return b.String()
	}
	return ports, edge, render
}

// Scenario 8: the README's demo. Caddyfile.example runs as shipped (ports
// aside); after logging in as demo/demo the legacy page says it was
// identified, with a JWT signed by the demo secret. The screenshot goes to
// a temporary directory, or to docs/demo.png with E2E_UPDATE_SCREENSHOT=1;
// nothing is compared visually.
func TestDemoCaddyfileExample(t *testing.T) {
	ports, edge, render := demoConfig(t)
	t.Logf("Caddyfile.example ports %v moved to free ones", ports)
	caddy := startCaddy(t, len(ports), render)
	tb := newTab(t)
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	tb.setHeaders(network.Headers{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("demo:demo"))})
	tb.navigate(fmt.Sprintf("http://localhost:%d/", caddy.ports[edge]))

	// The page's inline script sets #status while the page parses, so by
	// the load event it is final.
	var status string
	tb.eval("document.getElementById('status') ? document.getElementById('status').textContent : '(no #status element: ' + document.body.innerText.length + ' characters of text)'", &status)
	if status != "Identified as demo" {
		t.Fatalf("#status says %q, want %q: the demo page shows no injected identity", status, "Identified as demo")
	}
	var jwt string
	tb.eval("window.intercomSettings.intercom_user_jwt", &jwt)
	verifyHS256(t, jwt, demoSecret, map[string]string{"user_id": "demo", "email": "demo@example.com", "plan": "demo"})
	var claims string
	tb.eval("document.getElementById('claims').textContent", &claims)
	if !strings.Contains(claims, `"user_id": "demo"`) {
		t.Errorf("#claims shows %q, want the decoded claims of demo's token", claims)
	}
	// The demo has `loader`: let the (stub) Messenger boot before the picture.
	tb.waitBooted()
	boot := boots(tb.stubCalls())[0]
	if boot.str("user_id") != "demo" || boot.str("app_id") != demoAppID {
		t.Errorf("demo Messenger booted with %v, want demo on %s", boot, demoAppID)
	}
	tb.quiet()

	shot := tb.screenshot()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 900 {
		t.Errorf("screenshot is %dx%d, want 1280x900", b.Dx(), b.Dy())
	}
	dst := filepath.Join(t.TempDir(), "demo.png")
	if os.Getenv(updateScreenshotEnv) == "1" {
		dst = demoScreenshot
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(dst, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", dst)
}
