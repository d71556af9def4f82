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
	"time"

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

// demoConfig returns Caddyfile.example with its ports moved to free ones:
// the edge (8080), the demo upstream (8081) and the admin endpoint (2019).
// Everything else is kept, so the test runs the demo a newcomer runs.
func demoConfig(t *testing.T, ports []int) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(src)
	for _, r := range []struct {
		re   string
		port int
	}{
		{`\blocalhost:2019\b`, ports[2]},
		{`\b8080\b`, ports[0]},
		{`\b8081\b`, ports[1]},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(cfg) {
			t.Fatalf("Caddyfile.example has no %s any more: update demoConfig", r.re)
		}
		repl := fmt.Sprint(r.port)
		if strings.HasPrefix(r.re, `\blocalhost`) {
			repl = fmt.Sprintf("localhost:%d", r.port)
		}
		cfg = re.ReplaceAllString(cfg, repl)
	}
	return cfg
}

// Scenario 8: the README's demo. Caddyfile.example runs as shipped (ports
// aside); after logging in as demo/demo the legacy page says it was
// identified, with a JWT signed by the demo secret. The screenshot goes to
// a temporary directory, or to docs/demo.png with E2E_UPDATE_SCREENSHOT=1;
// nothing is compared visually.
func TestDemoCaddyfileExample(t *testing.T) {
	caddy := startCaddy(t, 3, func(ports []int) string { return demoConfig(t, ports) })
	tb := newTab(t)
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	tb.setHeaders(network.Headers{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("demo:demo"))})
	tb.navigate(fmt.Sprintf("http://localhost:%d/", caddy.ports[0]))

	status := "document.getElementById('status') && document.getElementById('status').textContent"
	deadline := time.Now().Add(bootTimeout)
	for {
		var text string
		tb.eval(status, &text)
		if text == "Identified as demo" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("#status says %q, want %q: the demo page shows no injected identity", text, "Identified as demo")
		}
		time.Sleep(50 * time.Millisecond)
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
	tb.settle(200 * time.Millisecond)

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
