package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
)

// Shared fixtures of the integration tests. caddytest runs one Caddy in
// this process (admin localhost:2999, HTTP on 9080), so tests that use it
// must not run in parallel with each other.
const (
	testSecret  = "test-messenger-secret-0123456789"
	testAppID   = "tst4pp"
	testBaseURL = "http://localhost:9080"
	// bcrypt (cost 4) of the user name, for basic_auth users alice and bob.
	aliceHash = "$2a$04$yWGcdOqdn/Z.DL7g.NoCCu1YvvSRxW0fS2dSRVqNzbCsp6kLeKRVy"
	bobHash   = "$2a$04$AQXMI0aOI/tgRG67OZYr.eepy2Kz0g1cNA55K8MHu5uOlSzO9w1Fa"
)

// caddyGlobals is the global options block every integration config uses.
const caddyGlobals = `{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	%s
}
`

// startCaddy loads a Caddyfile whose site blocks follow the test globals.
// extraGlobals lands inside the global options block.
func startCaddy(t *testing.T, extraGlobals, sites string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{TestRequestTimeout: 20 * time.Second})
	// Cookies are sent explicitly by the tests that need them.
	tester.Client.Jar = nil
	tester.InitServer(fmt.Sprintf(caddyGlobals, extraGlobals)+sites, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	return tester
}

// get performs a request through Caddy and returns the response with its
// body read.
func get(t *testing.T, tester *caddytest.Tester, method, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, testBaseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body of %s: %v", path, err)
	}
	return resp, string(body)
}

func basicAuth(user string) map[string]string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, user)
	return map[string]string{"Authorization": req.Header.Get("Authorization")}
}

var jwtInPage = regexp.MustCompile(`"intercom_user_jwt":"([A-Za-z0-9_\-.]+)"`)

// pageToken returns the Intercom JWT injected into page, verified with the
// test secret, and its claims.
func pageToken(t *testing.T, page string) jwt.MapClaims {
	t.Helper()
	m := jwtInPage.FindAllStringSubmatch(page, -1)
	if len(m) != 1 {
		t.Fatalf("want exactly one intercom_user_jwt in the page, found %d:\n%.2000s", len(m), page)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(m[0][1], claims, func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatalf("injected token does not verify: %v", err)
	}
	return claims
}

// assertUser checks that page carries a valid token for exactly user.
func assertUser(t *testing.T, page, user string) {
	t.Helper()
	claims := pageToken(t, page)
	if got, ok := claims["user_id"].(string); !ok || got != user {
		t.Fatalf("token user_id = %#v, want %q", claims["user_id"], user)
	}
	if !strings.Contains(page, `"user_id":"`+user+`"`) {
		t.Fatalf("settings do not name user %q", user)
	}
}

func assertNotInjected(t *testing.T, page string) {
	t.Helper()
	if strings.Contains(page, "intercom_user_jwt") {
		t.Fatalf("page was injected but should not be:\n%.1000s", page)
	}
}

// testKeyPEM returns the shared 2048-bit test key as PKCS#8 PEM.
func testKeyPEM(t *testing.T) string {
	t.Helper()
	return string(testkeys.PKCS8PEM(testkeys.RSA()))
}
