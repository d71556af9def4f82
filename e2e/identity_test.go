//go:build e2e

package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
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
	access, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
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
