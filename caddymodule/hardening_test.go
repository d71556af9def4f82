package caddymodule

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// cacheableHeaders are what an upstream sends for a page it believes any
// cache may keep: every header a browser, proxy or CDN cache obeys.
var cacheableHeaders = map[string]string{
	"Cache-Control":                "public, max-age=600",
	"Expires":                      "Thu, 01 Jan 2099 00:00:00 GMT",
	"Surrogate-Control":            "max-age=600",
	"CDN-Cache-Control":            "max-age=600",
	"Cloudflare-CDN-Cache-Control": "max-age=600",
	"Akamai-CDN-Cache-Control":     "max-age=600",
	"X-Accel-Expires":              "600",
	"ETag":                         `"v1"`,
	"Last-Modified":                "Mon, 01 Jan 2024 00:00:00 GMT",
	"Vary":                         "Accept-Encoding",
}

// assertNotStorable checks the header policy of an injected page (issue 13
// item 2): no cache layer may keep it.
func assertNotStorable(t *testing.T, what string, h http.Header, vary string) {
	t.Helper()
	want := map[string]string{
		"Cache-Control":     "private, no-store",
		"Surrogate-Control": "no-store",
		"CDN-Cache-Control": "no-store",
		"X-Accel-Expires":   "0",
		"Vary":              vary,
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	for _, k := range []string{"Expires", "ETag", "Last-Modified", "Cloudflare-CDN-Cache-Control", "Akamai-CDN-Cache-Control"} {
		if got := h.Values(k); len(got) != 0 {
			t.Errorf("%s: %s = %q, want it deleted", what, k, got)
		}
	}
}

func cookieNames(h http.Header) []string {
	var names []string
	for _, c := range h.Values("Set-Cookie") {
		name, _, _ := strings.Cut(c, "=")
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func TestInjectedPageIsNeverStored(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/page", htmlHandler(legacyPage, cacheableHeaders))
	noVary := map[string]string{}
	for k, v := range cacheableHeaders {
		if k != "Vary" {
			noVary[k] = v
		}
	}
	mux.HandleFunc("/novary", htmlHandler(legacyPage, noVary))
	mux.HandleFunc("/varycookie", htmlHandler(legacyPage, map[string]string{"Vary": "accept-encoding, cookie"}))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", basicAuthSite(up.addr(), ""))
	alice := basicAuth("alice")

	resp, body := get(t, tester, http.MethodGet, "/page", alice)
	assertUser(t, body, "alice")
	assertNotStorable(t, "GET", resp.Header, "Accept-Encoding, Cookie")
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("GET: Content-Length %q for a %d-byte body", cl, len(body))
	}
	getCookies := cookieNames(resp.Header)
	if len(getCookies) == 0 {
		t.Fatal("GET: no marker cookie")
	}

	// An identified HEAD gets the GET's header policy, without a body.
	resp, body = get(t, tester, http.MethodHead, "/page", alice)
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
	assertNotStorable(t, "HEAD", resp.Header, "Accept-Encoding, Cookie")
	if got := cookieNames(resp.Header); !slices.Equal(got, getCookies) {
		t.Errorf("HEAD sets cookies %q, GET %q", got, getCookies)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("HEAD: Content-Type %q", ct)
	}

	resp, body = get(t, tester, http.MethodGet, "/novary", alice)
	assertUser(t, body, "alice")
	assertNotStorable(t, "no Vary", resp.Header, "Cookie")
	resp, _ = get(t, tester, http.MethodGet, "/varycookie", alice)
	if got := resp.Header.Values("Vary"); len(got) != 1 || got[0] != "accept-encoding, cookie" {
		t.Errorf("Vary already naming Cookie became %q", got)
	}
}

// TestAnonymousHeadUntouched: a visitor with no identity and no marker gets
// the upstream's headers as they are, also for HEAD.
func TestAnonymousHeadUntouched(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/page", htmlHandler(legacyPage, cacheableHeaders))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", headerSite(up.addr(), "trust 127.0.0.1", ""))
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp, _ := get(t, tester, method, "/page", nil)
		for k, v := range cacheableHeaders {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("anonymous %s: %s = %q, want the upstream's %q", method, k, got, v)
			}
		}
	}
}

// TestEncodedPassesThrough: a response with any Content-Encoding is served
// exactly as the upstream sent it, counted as encoded (issue 12 item 4). With
// Caddy's default transport Go asks for gzip itself and decodes it, so the
// page is injected; with compression off the upstream's gzip, corrupt or
// not, reaches the client as plain reverse_proxy would serve it.
func TestEncodedPassesThrough(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(legacyPage))
	zw.Close()
	corrupt := "this is not gzip at all"
	mux := http.NewServeMux()
	serveEncoded := func(enc, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Encoding", enc)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Header().Set("Cache-Control", "public, max-age=3600")
			io.WriteString(w, body)
		}
	}
	mux.HandleFunc("/gzip", serveEncoded("gzip", gz.String()))
	mux.HandleFunc("/corrupt", serveEncoded("gzip", corrupt))
	mux.HandleFunc("/br", serveEncoded("br", "\x0b\x02\x80opaque"))
	up := newUpstream(t, mux)

	site := strings.Replace(basicAuthSite(up.addr(), ""), "reverse_proxy "+up.addr(),
		"reverse_proxy "+up.addr()+" {\n\t\ttransport http {\n\t\t\tcompression off\n\t\t}\n\t}", 1)
	tester := startCaddy(t, "", site)
	before := responsesCount(t, "encoded")
	for _, tc := range []struct{ path, enc, body string }{
		{"/gzip", "gzip", gz.String()},
		{"/corrupt", "gzip", corrupt},
		{"/br", "br", "\x0b\x02\x80opaque"},
	} {
		// Go's client would decode gzip it did not ask for itself: ask.
		hdr := basicAuth("alice")
		hdr["Accept-Encoding"] = "gzip, br"
		resp, body := get(t, tester, http.MethodGet, tc.path, hdr)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != tc.enc || body != tc.body {
			t.Errorf("%s: %d %q %q, want 200 %q and the upstream's bytes", tc.path, resp.StatusCode, resp.Header.Get("Content-Encoding"), body, tc.enc)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=3600" {
			t.Errorf("%s: Cache-Control %q changed on a page we did not touch", tc.path, cc)
		}
	}
	if got := responsesCount(t, "encoded") - before; got != 3 {
		t.Errorf("encoded counted %v times, want 3", got)
	}

	// The default transport decodes for us: the page is injected.
	tester = startCaddy(t, "", basicAuthSite(up.addr(), ""))
	_, body := get(t, tester, http.MethodGet, "/gzip", basicAuth("alice"))
	assertUser(t, body, "alice")
}

func TestTokenEndpointAnswersOnlyItsOrigin(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	site := strings.Replace(endpointSite(up.addr()), "\tintercom {",
		"\theader Access-Control-Allow-Origin *\n\theader Access-Control-Allow-Credentials true\n\theader Access-Control-Expose-Headers Date\n\tintercom {", 1)
	tester := startCaddy(t, "", site)
	const self = "http://app.example.test:9080"
	for _, tc := range []struct {
		name      string
		fetchSite string // "" = not sent
		origin    string // "" = not sent
		status    int
	}{
		{"same-origin", "same-origin", "", 200},
		{"same-origin with its origin", "same-origin", self, 200},
		{"none (typed in)", "none", "", 200},
		{"same-site", "same-site", "", 403},
		{"same-site with an origin", "same-site", "http://other.example.test:9080", 403},
		{"cross-site", "cross-site", "https://evil.test", 403},
		{"unknown value", "bogus", "", 403},
		{"no fetch metadata, no origin", "", "", 200},
		{"no fetch metadata, own origin", "", self, 200},
		{"no fetch metadata, own origin in capitals", "", "HTTP://APP.EXAMPLE.TEST:9080", 200},
		{"no fetch metadata, foreign origin", "", "https://evil.test", 403},
		{"no fetch metadata, other port", "", "http://app.example.test:9081", 403},
		{"no fetch metadata, other scheme", "", "https://app.example.test:9080", 403},
		{"no fetch metadata, null origin", "", "null", 403},
	} {
		hdr := map[string]string{"Host": "app.example.test:9080", "X-User": "Erin"}
		if tc.fetchSite != "" {
			hdr["Sec-Fetch-Site"] = tc.fetchSite
		}
		if tc.origin != "" {
			hdr["Origin"] = tc.origin
		}
		resp, body := get(t, tester, http.MethodGet, "/intercom/jwt", hdr)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
		}
		if tc.status == 403 && strings.Contains(body, "intercom_user_jwt") {
			t.Errorf("%s: a refused request got a token", tc.name)
		}
		for k := range resp.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: %s = %q reached the client", tc.name, k, resp.Header.Get(k))
			}
		}
	}
	// Elsewhere on the site the earlier handler's headers stay.
	resp, _ := get(t, tester, http.MethodGet, "/page", map[string]string{"Host": "app.example.test:9080"})
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("CORS header removed outside the endpoint")
	}
}

var sfTokenRE = regexp.MustCompile(`"salesforce_identity_token":"([A-Za-z0-9_\-.]+)"`)

// TestSalesforceSubjectNeverFallsBack: with subject configured and empty for
// a request, the page gets the Intercom token but no Salesforce token, in
// the page and from the endpoint (issue 13 item 7).
func TestSalesforceSubjectNeverFallsBack(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "key-2026")
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", fmt.Sprintf(`
http://app.example.test:9080 {
	intercom {
		app_id %s
		secret %s
		user_id {http.request.header.X-User}
		trust 127.0.0.1
		endpoint /intercom/jwt
		salesforce {
			private_key {file.%s/key-2026.key.pem}
			key_id key-2026
			issuer https://app.example.test
			subject {http.request.header.X-Contact}
		}
	}
	reverse_proxy %s
}`, testAppID, testSecret, dir, up.addr()))
	host := "app.example.test:9080"
	before := subjectEmptyCount(t)

	_, page := get(t, tester, http.MethodGet, "/", map[string]string{"Host": host, "X-User": "erin"})
	assertUser(t, page, "erin")
	if m := sfTokenRE.FindStringSubmatch(page); m != nil {
		t.Errorf("a salesforce token was signed with no subject: %s", subOf(t, m[1]))
	}
	_, body := get(t, tester, http.MethodGet, "/intercom/jwt", map[string]string{"Host": host, "X-User": "erin", "Sec-Fetch-Site": "same-origin"})
	if !strings.Contains(body, `"intercom_user_jwt"`) || strings.Contains(body, "salesforce_identity_token") {
		t.Errorf("endpoint without subject: %s", body)
	}
	if got := subjectEmptyCount(t) - before; got != 2 {
		t.Errorf("empty subject counted %v times, want 2", got)
	}

	_, page = get(t, tester, http.MethodGet, "/", map[string]string{"Host": host, "X-User": "erin", "X-Contact": "003XX000004TmiQ"})
	m := sfTokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no salesforce token with a subject")
	}
	if sub := subOf(t, m[1]); sub != "003XX000004TmiQ" {
		t.Errorf("sub = %q", sub)
	}
}

func subOf(t *testing.T, token string) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	sub, _ := claims["sub"].(string)
	return sub
}

// responsesCount reads caddy_intercom_responses_total for the test
// workspace and outcome.
func responsesCount(t *testing.T, outcome string) float64 {
	t.Helper()
	initCollectors()
	return testutil.ToFloat64(collectors.responses.WithLabelValues(testAppID, outcome))
}

// subjectEmptyCount reads caddy_intercom_salesforce_subject_missing_total.
func subjectEmptyCount(t *testing.T) float64 {
	t.Helper()
	initCollectors()
	return testutil.ToFloat64(collectors.subjectMissing.WithLabelValues(testAppID))
}

// TestForwardAuthIdentityIsNotTheApps: with the forward_auth pattern
// (user_id {http.reverse_proxy.header.Remote-User}) the identity is what the
// auth service answered, not what the proxied app puts in its own response
// headers: reverse_proxy overwrites those placeholders with the app's
// response, so the handler must resolve identity before calling it.
func TestForwardAuthIdentityIsNotTheApps(t *testing.T) {
	auth := authService(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, map[string]string{"Remote-User": "mallory"}))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", fmt.Sprintf(`
http://localhost:9080 {
	forward_auth %s {
		uri /verify
	}
	intercom {
		app_id %s
		secret %s
		user_id {http.reverse_proxy.header.Remote-User}
	}
	reverse_proxy %s
}`, strings.TrimPrefix(auth.URL, "http://"), testAppID, testSecret, up.addr()))
	_, body := get(t, tester, http.MethodGet, "/", map[string]string{"Authorization": "Bearer token-dave"})
	assertUser(t, body, "dave")
}
