package caddymodule

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/injector/keys"
)

var sfTokenInPage = regexp.MustCompile(`"salesforce_identity_token":"([A-Za-z0-9_\-.]+)"`)

// writeKey generates Salesforce key material named as `caddy intercom
// keygen` names it and returns the directory.
func writeKey(t *testing.T, dir, kid string) keys.SalesforceKey {
	t.Helper()
	key, err := keys.GenerateSalesforceKey(keys.SalesforceKeyOptions{KeyID: kid, Issuer: "https://app.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{kid + ".key.pem": key.PrivateKeyPEM, kid + ".cert.pem": key.CertificatePEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return key
}

// TestJWKSRotation signs with a new key while the previous certificate is
// still published: tokens from both keys verify against the served JWKS.
func TestJWKSRotation(t *testing.T) {
	dir := t.TempDir()
	old := writeKey(t, dir, "key-2025")
	cur := writeKey(t, dir, "key-2026")
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", basicAuthSite(up.addr(), fmt.Sprintf(`salesforce {
			private_key {file.%[1]s/key-2026.key.pem}
			key_id key-2026
			issuer https://app.example.test
			certificate {file.%[1]s/key-2026.cert.pem}
			previous_certificate {file.%[1]s/key-2025.cert.pem}
			jwks /.well-known/jwks.json
		}`, dir)))

	_, page := get(t, tester, http.MethodGet, "/", basicAuth("alice"))
	assertUser(t, page, "alice")
	m := sfTokenInPage.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no salesforce_identity_token in the page")
	}

	resp, doc := get(t, tester, http.MethodGet, "/.well-known/jwks.json", basicAuth("alice"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "public, max-age=300" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("JWKS response: %d %v", resp.StatusCode, resp.Header)
	}
	for _, member := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if strings.Contains(doc, member) {
			t.Fatalf("served JWKS has private member %s:\n%s", member, doc)
		}
	}
	set, err := keys.ParseJWKSet([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != "key-2026" || set.Keys[1].Kid != "key-2025" {
		t.Fatalf("JWKS keys: %+v", set.Keys)
	}

	verify := func(token string) (jwt.MapClaims, error) {
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
			k, ok := set.Find(tok.Header["kid"].(string))
			if !ok {
				return nil, fmt.Errorf("kid %v not in the JWKS", tok.Header["kid"])
			}
			return k.PublicKey()
		}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("https://app.example.test"))
		return claims, err
	}
	claims, err := verify(m[1])
	if err != nil {
		t.Fatalf("page token does not verify against the served JWKS: %v", err)
	}
	if claims["sub"] != "alice" {
		t.Errorf("sub = %v", claims["sub"])
	}
	// A token the previous key signed before the switch still verifies.
	oldKey, err := injector.ParseRSAPrivateKey(old.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	oldTok := signRS256(t, oldKey, "key-2025")
	if _, err := verify(oldTok); err != nil {
		t.Errorf("previous key's token rejected during rotation: %v", err)
	}
	_ = cur
}

func signRS256(t *testing.T, key *rsa.PrivateKey, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": "https://app.example.test", "sub": "alice",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWKSProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a")
	writeKey(t, dir, "b")
	base := func(mut func(*Salesforce)) *Intercom {
		sf := &Salesforce{PrivateKey: "{file." + dir + "/a.key.pem}", KeyID: "a", Issuer: "https://app.example.test"}
		mut(sf)
		return &Intercom{AppID: "app", Secret: testSecret, UserID: "{http.auth.user.id}", Salesforce: sf}
	}
	for _, tc := range []struct {
		name string
		mut  func(*Salesforce)
		want string
	}{
		{"certificate of another key", func(s *Salesforce) { s.Certificate = "{file." + dir + "/b.cert.pem}" }, "salesforce: certificate: does not belong to private_key"},
		{"jwks without certificate", func(s *Salesforce) { s.JWKS = "/jwks.json" }, "salesforce: certificate: required to publish a JWKS"},
		{"jwks not a path", func(s *Salesforce) { s.Certificate = "{file." + dir + "/a.cert.pem}"; s.JWKS = "jwks.json" }, `salesforce: jwks: "jwks.json" must be a path`},
		{"certificate not PEM", func(s *Salesforce) { s.Certificate = "nonsense" }, "salesforce: certificate:"},
		{"previous without kid", func(s *Salesforce) {
			s.Certificate = "{file." + dir + "/a.cert.pem}"
			s.PreviousCertificates = []PreviousCertificate{{Certificate: "{env.PREV_CERT}"}}
		}, "previous_certificate 1: give its key id"},
		{"previous with the current kid", func(s *Salesforce) {
			s.Certificate = "{file." + dir + "/a.cert.pem}"
			s.PreviousCertificates = []PreviousCertificate{{Certificate: "{file." + dir + "/b.cert.pem}", KeyID: "a"}}
		}, "salesforce: jwks:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := provision(t, base(tc.mut))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	ok := base(func(s *Salesforce) {
		s.Certificate = "{file." + dir + "/a.cert.pem}"
		s.PreviousCertificates = []PreviousCertificate{{Certificate: "{file." + dir + "/b.cert.pem}"}}
		s.JWKS = "/jwks.json"
	})
	if err := provision(t, ok); err != nil {
		t.Fatalf("valid rotation config rejected: %v", err)
	}
	if !strings.Contains(string(ok.jwksDoc), `"kid": "b"`) {
		t.Errorf("previous certificate's kid not derived from its file name:\n%s", ok.jwksDoc)
	}
}
