package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestAnonymousWithIdentityHeaderIsExplained: a request that carried an
// identity header but ends up anonymous says why, at info the first time
// after a config load, then at debug (issue 16 item 4). Never the value.
func TestAnonymousWithIdentityHeaderIsExplained(t *testing.T) {
	h := &Intercom{AppID: testAppID, Secret: testSecret, UserID: "{http.request.header.X-User}", Trust: []string{"10.0.0.0/8"}}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	h.logger = zap.New(core)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, legacyPage)
		return nil
	})
	do := func(remote string, hdr map[string]string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
		req.RemoteAddr = remote
		for k, v := range hdr {
			req.Header[k] = []string{v}
		}
		// What Caddy's server does: request placeholders read the request.
		caddyhttp.NewTestReplacer(req)
		if err := h.ServeHTTP(httptest.NewRecorder(), req, next); err != nil {
			t.Fatal(err)
		}
	}
	const msg = "identity header present but the request is anonymous"

	do("192.0.2.7:1234", nil) // no identity header: nothing to explain
	if n := logs.FilterMessage(msg).Len(); n != 0 {
		t.Fatalf("%d explanations for a request without identity header", n)
	}
	do("192.0.2.7:1234", map[string]string{"X-User": "secret-user-value"})
	do("192.0.2.7:1234", map[string]string{"X-User": "secret-user-value"})
	do("10.1.2.3:1234", map[string]string{"X-User": ""})

	entries := logs.FilterMessage(msg).All()
	if len(entries) != 3 {
		t.Fatalf("want 3 explanations, got %d", len(entries))
	}
	wantLevels := []zapcore.Level{zapcore.InfoLevel, zapcore.DebugLevel, zapcore.DebugLevel}
	for i, e := range entries {
		if e.Level != wantLevels[i] {
			t.Errorf("explanation %d at %s, want %s", i, e.Level, wantLevels[i])
		}
		ctx := e.ContextMap()
		if ctx["placeholder"] != "{http.request.header.X-User}" {
			t.Errorf("explanation %d names placeholder %v", i, ctx["placeholder"])
		}
		if fmt.Sprint(ctx) != strings.ReplaceAll(fmt.Sprint(ctx), "secret-user-value", "") {
			t.Errorf("explanation %d carries the header value: %v", i, ctx)
		}
	}
	if why := entries[0].ContextMap()["why"].(string); !strings.Contains(why, "trust") {
		t.Errorf("untrusted peer explained as %q", why)
	}
	if why := entries[2].ContextMap()["why"].(string); !strings.Contains(why, "resolved empty") {
		t.Errorf("trusted empty header explained as %q", why)
	}

	// A new config load logs at info again.
	h2 := &Intercom{AppID: testAppID, Secret: testSecret, UserID: "{http.request.header.X-User}", Trust: []string{"10.0.0.0/8"}}
	if err := provision(t, h2); err != nil {
		t.Fatal(err)
	}
	h2.logger = h.logger
	h = h2
	do("192.0.2.7:1234", map[string]string{"X-User": "x"})
	if last := logs.FilterMessage(msg).All(); last[len(last)-1].Level != zapcore.InfoLevel {
		t.Errorf("first explanation after a reload at %s, want info", last[len(last)-1].Level)
	}
}

// TestMetricsPerWorkspace scrapes Caddy's admin /metrics after traffic on
// every counted path (issue 16 item 3).
func TestMetricsPerWorkspace(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "key-2026")
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "metrics", basicAuthSite(up.addr(), fmt.Sprintf(`endpoint /intercom/jwt
		salesforce {
			private_key {file.%[1]s/key-2026.key.pem}
			key_id key-2026
			issuer https://app.example.test
			certificate {file.%[1]s/key-2026.cert.pem}
			jwks /.well-known/jwks.json
			reuse 5m
		}`, dir)))
	alice := basicAuth("alice")
	get(t, tester, http.MethodGet, "/", alice)
	get(t, tester, http.MethodGet, "/", alice) // reuse hit
	get(t, tester, http.MethodGet, "/intercom/jwt", alice)
	alice["Sec-Fetch-Site"] = "cross-site"
	get(t, tester, http.MethodGet, "/intercom/jwt", alice)
	get(t, tester, http.MethodGet, "/.well-known/jwks.json", alice)

	resp, err := http.Get("http://localhost:2999/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`caddy_intercom_responses_total{app_id="` + testAppID + `",outcome="injected"}`,
		`caddy_intercom_sign_seconds_count{app_id="` + testAppID + `",token="intercom"}`,
		`caddy_intercom_sign_seconds_count{app_id="` + testAppID + `",token="salesforce"}`,
		`caddy_intercom_endpoint_requests_total{app_id="` + testAppID + `",status="200"}`,
		`caddy_intercom_endpoint_requests_total{app_id="` + testAppID + `",status="403"}`,
		`caddy_intercom_jwks_requests_total `,
		`caddy_intercom_salesforce_reuse_total{result="hit"}`,
		`caddy_intercom_salesforce_reuse_total{result="miss"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "caddy_intercom_") && strings.Contains(line, "alice") {
			t.Errorf("a metric carries a user: %s", line)
		}
	}
}

// TestMarkerOf: the marker is read as net/http's Cookie parser would find
// it, without parsing every cookie of the request.
func TestMarkerOf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"absent", nil, ""},
		{"only", []string{"caddy_intercom_user=abc"}, "abc"},
		{"among others", []string{"a=1; caddy_intercom_user=abc; b=2"}, "abc"},
		{"second line", []string{"a=1", "caddy_intercom_user=abc"}, "abc"},
		{"a longer name is another cookie", []string{"xcaddy_intercom_user=evil; caddy_intercom_user_2=evil"}, ""},
		{"quoted", []string{`caddy_intercom_user="abc"`}, "abc"},
		{"first wins", []string{"caddy_intercom_user=abc; caddy_intercom_user=def"}, "abc"},
		{"empty", []string{"caddy_intercom_user="}, ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Cookie"] = tc.lines
		if got := markerOf(r); got != tc.want {
			t.Errorf("%s: markerOf = %q, want %q", tc.name, got, tc.want)
		}
		var std string
		if c, err := r.Cookie("caddy_intercom_user"); err == nil {
			std = c.Value
		}
		if std != tc.want {
			t.Errorf("%s: net/http reads %q: the table is wrong", tc.name, std)
		}
	}
}
