package identityassertion

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/golang-jwt/jwt/v5"
)

// The integration test runs one real Caddy in this process (caddytest):
// identity_assertion in front of the real intercom handler in front of a real
// reverse_proxy. Its ports are its own (not caddytest's default 2999/9080),
// so that it can run beside the other packages' integration tests.
const (
	itAdminPort = 29714
	itHTTPPort  = 29780

	itSecret = "test-messenger-secret-0123456789"
	itAppID  = "tst4pp"
	itPage   = "<!doctype html><html><head><title>App</title></head><body><h1>Hello</h1></body></html>"
)

var jwtInPage = regexp.MustCompile(`"intercom_user_jwt":"([A-Za-z0-9_\-.]+)"`)

// TestIntercomTokenNamesAssertedUser: a Cloudflare Access assertion, verified
// with keys from a local key server, becomes the Intercom token's user; a
// forged one (a plain header and a token signed by another key) leaves the
// page anonymous; the metric counts both.
func TestIntercomTokenNamesAssertedUser(t *testing.T) {
	testKeys()
	access := signer{kid: "cf-1", key: rsaKey}
	ks := newKeyServer(t, false, access) // loopback http, as a config may name it
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, itPage)
	}))
	t.Cleanup(upstream.Close)

	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: itAdminPort, TestRequestTimeout: 20 * time.Second})
	tester.InitServer(fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%d
	http_port %d
	https_port 29743
	grace_period 1ns
	metrics
}
:%d {
	identity_assertion {
		provider cloudflare_access
		team acme
		audience aud-tag-1
		jwks_url %s/cdn-cgi/access/certs
	}
	intercom {
		app_id %s
		secret %s
		user_id {http.auth.user.id}
		email {http.auth.user.email}
		name {http.auth.user.name}
	}
	reverse_proxy %s
}
`, itAdminPort, itHTTPPort, itHTTPPort, ks.URL(), itAppID, itSecret, strings.TrimPrefix(upstream.URL, "http://")), "caddyfile")

	now := time.Now().Unix()
	claims := jwt.MapClaims{"iss": "https://acme.cloudflareaccess.com", "aud": []string{"aud-tag-1"}, "email": "ada@example.com",
		"name": "Ada Lovelace", "sub": "7335d417", "iat": now, "nbf": now, "exp": now + 300}
	page := func(hdr map[string]string) string {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:%d/", itHTTPPort), nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := tester.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return string(b)
	}

	body := page(map[string]string{"Cf-Access-Jwt-Assertion": access.sign(claims, nil)})
	m := jwtInPage.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no Intercom token in the page of a verified user:\n%s", body)
	}
	tokClaims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(m[1], tokClaims, func(*jwt.Token) (any, error) { return []byte(itSecret), nil },
		jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Fatalf("Intercom token does not verify: %v", err)
	}
	if tokClaims["user_id"] != "ada@example.com" {
		t.Errorf("Intercom token user_id = %v, want the asserted ada@example.com", tokClaims["user_id"])
	}
	if tokClaims["email"] != "ada@example.com" || tokClaims["name"] != "Ada Lovelace" {
		t.Errorf("Intercom token email, name = %v, %v; want the asserted claims", tokClaims["email"], tokClaims["name"])
	}

	// Forgeries: a token from another key with the same kid, and the plain
	// identity headers a client can always send.
	forged := signer{kid: "cf-1", key: rsaKey2}.sign(jwt.MapClaims{"iss": "https://acme.cloudflareaccess.com",
		"aud": "aud-tag-1", "email": "admin@example.com", "exp": now + 300}, nil)
	for _, hdr := range []map[string]string{
		{"Cf-Access-Jwt-Assertion": forged},
		{"Cf-Access-Authenticated-User-Email": "admin@example.com"},
	} {
		if body := page(hdr); jwtInPage.MatchString(body) {
			t.Errorf("forged identity %v got a token:\n%s", hdr, body)
		}
	}

	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", itAdminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`caddy_identity_assertion_total{result="valid"}`, `caddy_identity_assertion_total{result="invalid_signature"}`,
		`caddy_identity_assertion_total{result="absent"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
