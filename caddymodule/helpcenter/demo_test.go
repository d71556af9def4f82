package helpcenter

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// demoStandInFile is the Help Center part of the proposed Caddyfile.example.
var demoStandInFile = filepath.Join("testdata", "demo", "Caddyfile")

// demoExample is the demo config a newcomer runs (repository root relative
// to this package).
var demoExample = filepath.Join("..", "..", "Caddyfile.example")

// demoPorts are the demo's ports: edge, legacy app, help site, stand-in.
var demoPorts = []string{"8080", "8081", "8082", "8083"}

// demoPassword is the demo user's basic_auth password (demo / demo).
const demoPassword = "demo"

// TestDemoStandIn runs the demo's Help Center sites (the stand-in origin,
// the help.example.test site and the /help subpath of the edge behind
// basic_auth) in a real Caddy and checks what the stand-in page shows: no
// Authorization, only the intercom-* cookies; and that the browser gets
// only the stand-in's host-only and intercom-* cookies.
func TestDemoStandIn(t *testing.T) {
	src, err := os.ReadFile(demoStandInFile)
	if err != nil {
		t.Fatal(err)
	}
	if formatted := caddyfile.Format(src); !bytes.Equal(formatted, src) {
		t.Errorf("%s is not as caddy fmt writes it (caddy run would warn):\n%s", demoStandInFile, formatted)
	}
	ports := map[string]int{}
	for _, p := range demoPorts {
		ports[p] = freePort(t)
	}
	config := regexp.MustCompile(`:(808[0-3])\b`).ReplaceAllStringFunc(string(src), func(m string) string {
		return fmt.Sprintf(":%d", ports[m[1:]])
	})
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: testAdminPort})
	tester.InitServer(fmt.Sprintf(testGlobals, testAdmin, testHTTPPort)+config, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}

	// Any host name goes to the loopback port in the URL, like a browser
	// with help.example.test in its hosts file.
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		}},
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("demo:"+demoPassword))
	// What a browser sends after logging in to the demo and opening the
	// Messenger: the app's own cookies beside the Messenger's.
	const cookies = "app_session=app-secret; intercom-session-demo0app=messenger; caddy_intercom_user=marker; intercom-device-id-demo0app=device"
	wantSetCookie := []string{"intercom-demo-help=1; Domain=example.test; Path=/", "help_locale=en; Path=/"}

	tests := []struct {
		name string
		url  string
		auth bool
	}{
		{"subpath of the edge behind basic_auth", fmt.Sprintf("http://localhost:%d/help/articles/42?q=refund", ports["8080"]), true},
		{"help.example.test", fmt.Sprintf("http://help.example.test:%d/articles/42", ports["8082"]), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", basic)
			req.Header.Set("Proxy-Authorization", basic)
			req.Header.Set("Cookie", cookies)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page := string(body)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(page, "Stand-in Help Center origin") {
				t.Fatalf("status %d, body %q: not the stand-in's page", resp.StatusCode, head(page))
			}
			t.Logf("the stand-in's page:\n%s", page)

			for _, want := range []string{
				"Authorization  not received\n",
				"Cookies        intercom-session-demo0app intercom-device-id-demo0app \n",
				"  Cookie: intercom-session-demo0app=messenger; intercom-device-id-demo0app=device\n",
			} {
				if !strings.Contains(page, want) {
					t.Errorf("the stand-in's page lacks %q", want)
				}
			}
			for _, leak := range []string{basic[len("Basic "):], "app_session", "app-secret", "caddy_intercom_user", "Proxy-Authorization"} {
				if strings.Contains(page, leak) {
					t.Errorf("%q reached the Help Center origin", leak)
				}
			}
			if strings.Contains(page, "{{") || strings.Contains(page, "intercomSettings") {
				t.Errorf("the page is not the rendered template, or was injected into")
			}
			if got := resp.Header["Set-Cookie"]; !reflect.DeepEqual(got, wantSetCookie) {
				t.Errorf("browser got Set-Cookie %q, want %q", got, wantSetCookie)
			}
		})
	}

	// The stand-in tells the truth when it does get them: the checks
	// above can fail.
	t.Run("stand-in asked directly", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://help.example.test:%d/", ports["8083"]), nil)
		req.Header.Set("Authorization", basic)
		req.Header.Set("Cookie", cookies)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"Authorization  RECEIVED: the edge leaked it\n", "Cookies        app_session intercom-session-demo0app caddy_intercom_user "} {
			if !strings.Contains(string(body), want) {
				t.Errorf("the stand-in's page lacks %q:\n%s", want, body)
			}
		}
		if got := len(resp.Header["Set-Cookie"]); got != 3 {
			t.Errorf("the stand-in set %d cookies, want 3", got)
		}
	})

	t.Run("the app still identifies and the subpath still needs the login", func(t *testing.T) {
		for _, tt := range []struct {
			path, auth string
			status     int
			injected   bool
		}{
			{"/", basic, http.StatusOK, true},
			{"/help/", "", http.StatusUnauthorized, false},
		} {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:%d%s", ports["8080"], tt.path), nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			injected := strings.Contains(string(body), "intercomSettings")
			if resp.StatusCode != tt.status || injected != tt.injected {
				t.Errorf("%s: status %d, injected %v; want %d, %v", tt.path, resp.StatusCode, injected, tt.status, tt.injected)
			}
		}
	})
}

// TestDemoExampleMatch: the stand-in section of Caddyfile.example is the one
// TestDemoStandIn runs.
func TestDemoExampleMatch(t *testing.T) {
	src, err := os.ReadFile(demoStandInFile)
	if err != nil {
		t.Fatal(err)
	}
	_, region, ok := strings.Cut(string(src), "#region stand-in\n")
	if region, _, ok2 := strings.Cut(region, "#endregion stand-in\n"); ok && ok2 {
		example, err := os.ReadFile(demoExample)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(example), region) {
			t.Errorf("%s does not contain the stand-in section of %s verbatim:\n%s", demoExample, demoStandInFile, region)
		}
		return
	}
	t.Fatalf("%s has no #region stand-in ... #endregion stand-in", demoStandInFile)
}
