//go:build e2e

package e2e

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
	"github.com/chromedp/cdproto/network"
	"github.com/golang-jwt/jwt/v5"
)

// accessKeyServer is a stand-in for https://<team>.cloudflareaccess.com/cdn-cgi/access/certs
// on loopback: a JWK Set holding key's public half under kid.
func accessKeyServer(t *testing.T, kid string, key *rsa.PrivateKey) string {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		KID: kid, ALG: jwkset.AlgRS256, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Verified identity: a page behind identity_assertion (Cloudflare Access's
// format, keys from a local key server) and intercom boots the widget as the
// user the signed assertion names; an assertion signed by another key (a
// forgery with the same kid) boots nobody's identity.
func TestVerifiedIdentityBoots(t *testing.T) {
	// The shared test keys (internal/testkeys): Access's, and a forger's.
	access, forger := testkeys.RSA(), testkeys.OtherRSA()
	keys := accessKeyServer(t, "cf-e2e", access)
	upstream := newUpstream(t, map[string]webPage{
		"/": {html: htmlPage("Verified", "", `<h1>Behind Access</h1>`)},
	})
	caddy := startCaddy(t, 1, func(ports []int) string {
		return globalOptions(ports[0]) + fmt.Sprintf(`
http://%s:%d {
	bind 127.0.0.1
	identity_assertion {
		provider cloudflare_access
		team e2e
		audience e2e-aud-tag
		jwks_url %s/cdn-cgi/access/certs
		user_claim sub
	}
	intercom {
		app_id %s
		secret %s
		user_id {http.auth.user.id}
		email {http.auth.user.email}
		attribute plan e2e
		loader
	}
	reverse_proxy %s
}
`, appHost, ports[0], keys, testAppID, testSecret, upstream)
	})

	assertion := func(key *rsa.PrivateKey, sub string) string {
		now := time.Now().Unix()
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": "https://e2e.cloudflareaccess.com", "aud": []string{"e2e-aud-tag"}, "sub": sub,
			"email": sub + "@example.test", "iat": now, "nbf": now, "exp": now + 600, "type": "app"})
		tok.Header["kid"] = "cf-e2e"
		raw, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}

	t.Run("signed by Access", func(t *testing.T) {
		tb := newTab(t)
		tb.setHeaders(network.Headers{"Cf-Access-Jwt-Assertion": assertion(access, "ada")})
		tb.navigate(caddy.appURL("/"))
		tb.waitBooted()
		wantOneBoot(t, tb.stubCalls(), "ada", "auto")
	})

	t.Run("forged", func(t *testing.T) {
		tb := newTab(t)
		tb.setHeaders(network.Headers{
			"Cf-Access-Jwt-Assertion":            assertion(forger, "admin"),
			"Cf-Access-Authenticated-User-Email": "admin@example.test",
		})
		tb.navigate(caddy.appURL("/"))
		var settings map[string]any
		tb.eval("window.intercomSettings || null", &settings)
		if settings != nil {
			t.Errorf("a forged assertion got settings: %v", settings)
		}
		if n := tb.widgetRequests(); n != 0 {
			t.Errorf("the widget loaded %d times for a forged assertion (the edge installs it only for a verified user)", n)
		}
	})
}

// The real binary lists the module, starts while the key server is
// unreachable (pages are served, anonymous), and `caddy validate` names the
// sub-directive of each config error with the file and line.
func TestIdentityAssertionBinary(t *testing.T) {
	out, err := exec.Command(caddyBin, "list-modules").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "http.handlers.identity_assertion\n") {
		t.Fatalf("caddy list-modules (err %v) does not list http.handlers.identity_assertion:\n%s", err, out)
	}

	t.Run("keys unreachable", func(t *testing.T) {
		upstream := newUpstream(t, map[string]webPage{"/": {html: htmlPage("Up", "", "<h1>up</h1>")}})
		deadKeys := freePort(t) // nothing listens there
		caddy := startCaddy(t, 1, func(ports []int) string {
			return globalOptions(ports[0]) + fmt.Sprintf(`
http://%s:%d {
	bind 127.0.0.1
	identity_assertion {
		provider jwt
		header X-Assertion
		jwks_url http://127.0.0.1:%d/jwks
		issuer https://auth.internal
		audience app
	}
	intercom {
		app_id %s
		secret %s
		user_id {http.auth.user.id}
	}
	reverse_proxy %s
}
`, appHost, ports[0], deadKeys, testAppID, testSecret, upstream)
		})
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", caddy.ports[0]), nil)
		req.Host = fmt.Sprintf("%s:%d", appHost, caddy.ports[0])
		req.Header.Set("X-Assertion", "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhZG1pbiJ9.c2ln")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "intercom_user_jwt") {
			t.Fatalf("with keys unreachable: status %d, body:\n%s", resp.StatusCode, body)
		}
	})

	for _, tc := range []struct{ block, want string }{
		{"provider okta", `provider: unknown provider "okta"`},
		{"provider cloudflare_access\n\t\tteam acme", "audience: required for provider cloudflare_access"},
		{"provider jwt\n\t\tissuer i\n\t\taudience a\n\t\tjwks_url http://keys.example.com/jwks", `jwks_url: "http://keys.example.com/jwks" must be an https:// URL`},
		{"provider google_iap\n\t\taudience a\n\t\talgorithms HS256", `algorithms: "HS256" is a shared-secret (HMAC) algorithm`},
		{"provider aws_alb\n\t\tsigner arn:x", "region: required for provider aws_alb"},
	} {
		t.Run("validate "+tc.want, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "Caddyfile")
			cfg := "{\n\tadmin off\n}\n\n:8080 {\n\tidentity_assertion {\n\t\t" + tc.block + "\n\t}\n\trespond ok\n}\n"
			if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(caddyBin, "validate", "--config", file, "--adapter", "caddyfile")
			cmd.Env = append(testEnv(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("caddy validate accepted:\n%s", cfg)
			}
			// The error is logged as JSON: unescape its quotes.
			text := strings.ReplaceAll(string(out), `\"`, `"`)
			if !strings.Contains(text, tc.want) || !strings.Contains(text, file+":") {
				t.Fatalf("caddy validate output lacks %q and the file:line:\n%s", tc.want, out)
			}
		})
	}
}
