package tokencheck

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/injector/keys"
	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"

	"github.com/golang-jwt/jwt/v5"
)

// diagTestNow is the fixed clock of the diagnosis tests.
var diagTestNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func diagTestClock() time.Time { return diagTestNow }

const testSecret = "messenger-api-secret-for-tests"

// diagKeys holds RSA keys shared by the tests: main has a certificate made
// by the keygen path, as an operator's would be.
var diagKeys = sync.OnceValue(func() (k struct {
	main, other *rsa.PrivateKey
	mainCert    *x509.Certificate
	weak        *rsa.PrivateKey
}) {
	k.main = testkeys.RSA()
	k.mainCert = testkeys.Certificate(k.main, diagTestNow.Add(-24*time.Hour), diagTestNow.Add(365*24*time.Hour))
	k.other = testkeys.OtherRSA()
	k.weak = testkeys.WeakRSA()
	return k
})

func testCert(t testing.TB, key *rsa.PrivateKey, notBefore, notAfter time.Time) *x509.Certificate {
	return testkeys.Certificate(key, notBefore, notAfter)
}

func testJWK(t testing.TB, cert *x509.Certificate, kid, alg string) keys.JWK {
	t.Helper()
	k, err := keys.JWKFromCertificate(cert, kid, alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testHS signs claims with an HMAC algorithm.
func testHS(t testing.TB, alg, secret string, claims map[string]any) string {
	return testkeys.HS(t, alg, []byte(secret), claims)
}

// testRS signs claims with an RSA algorithm; kid "" means no kid header.
var testRS = testkeys.RS

// testRaw builds a token from raw JSON header and claims, HMAC-SHA256-signed
// with secret over the given segments ("" secret = empty signature).
func testRaw(header, claims, secret string, enc *base64.Encoding) string {
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	if secret == "" {
		return input + "."
	}
	sig, err := jwt.SigningMethodHS256.Sign(input, []byte(secret))
	if err != nil {
		panic(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

func codes(r Report) []string {
	out := []string{}
	for _, f := range r.Findings {
		out = append(out, f.Code)
	}
	return out
}

func findingText(r Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString(f.Severity.String() + ": " + f.Problem + " | fix: " + f.Fix + "\n")
	}
	return b.String()
}

func unix(d time.Duration) int64 { return diagTestNow.Add(d).Unix() }

func TestVerifyIntercomToken(t *testing.T) {
	valid := func() map[string]any {
		return map[string]any{"user_id": "42", "iat": unix(-10 * time.Second), "exp": unix(time.Hour)}
	}
	with := func(edit func(map[string]any)) map[string]any {
		c := valid()
		edit(c)
		return c
	}
	tests := []struct {
		name      string
		token     func(t *testing.T) string
		secret    string
		userID    string
		wantCodes []string
		wantValid bool
		wantText  []string // substrings of the findings' text
	}{
		{name: "valid", token: func(t *testing.T) string { return testHS(t, "HS256", testSecret, valid()) },
			wantCodes: []string{}, wantValid: true},
		{name: "valid with expected user_id", userID: "42",
			token:     func(t *testing.T) string { return testHS(t, "HS256", testSecret, valid()) },
			wantCodes: []string{}, wantValid: true},
		{name: "another workspace's secret",
			token:     func(t *testing.T) string { return testHS(t, "HS256", "test-workspace-secret", valid()) },
			wantCodes: []string{CodeBadSignature},
			wantText:  []string{"does not match this secret", "test vs production"}},
		{name: "signer kept a trailing newline",
			token:     func(t *testing.T) string { return testHS(t, "HS256", testSecret+"\n", valid()) },
			wantCodes: []string{CodeBadSignature},
			wantText:  []string{"followed by a newline"}},
		{name: "verifier secret has a trailing newline", secret: testSecret + "\n",
			token:     func(t *testing.T) string { return testHS(t, "HS256", testSecret, valid()) },
			wantCodes: []string{CodeBadSignature},
			wantText:  []string{"without its surrounding whitespace"}},
		{name: "alg none",
			token: func(t *testing.T) string {
				return testRaw(`{"alg":"none","typ":"JWT"}`, `{"user_id":"42","exp":`+jsonInt(unix(time.Hour))+`}`, "", base64.RawURLEncoding)
			},
			wantCodes: []string{CodeAlgNone},
			wantText:  []string{`alg is "none"`, "unsigned"}},
		{name: "alg HS512",
			token:     func(t *testing.T) string { return testHS(t, "HS512", testSecret, valid()) },
			wantCodes: []string{CodeAlgUnsupported},
			wantText:  []string{`alg is "HS512"`, "must be HS256"}},
		{name: "alg HS512 and wrong secret",
			token:     func(t *testing.T) string { return testHS(t, "HS512", "other", valid()) },
			wantCodes: []string{CodeAlgUnsupported, CodeBadSignature}},
		{name: "alg RS256 (a Salesforce token)",
			token:     func(t *testing.T) string { return testRS(t, "RS256", diagKeys().main, "", valid()) },
			wantCodes: []string{CodeAlgUnsupported},
			wantText:  []string{"Salesforce"}},
		{name: "no header alg",
			token: func(t *testing.T) string {
				return testRaw(`{"typ":"JWT"}`, `{"user_id":"42"}`, testSecret, base64.RawURLEncoding)
			},
			wantCodes: []string{CodeAlgUnsupported, CodeNoExp},
			wantText:  []string{"no alg"}},
		{name: "no user_id",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { delete(c, "user_id") }))
			},
			wantCodes: []string{CodeNoUserID},
			wantText:  []string{"no user_id claim"}},
		{name: "sub instead of user_id",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { delete(c, "user_id"); c["sub"] = "42" }))
			},
			wantCodes: []string{CodeSubNotUserID},
			wantText:  []string{`sub is "42"`, "reads user_id, not sub"}},
		{name: "user_id is a number",
			token: func(t *testing.T) string {
				return testRaw(`{"alg":"HS256"}`, `{"user_id":12345678901234567890,"exp":`+jsonInt(unix(time.Hour))+`}`, testSecret, base64.RawURLEncoding)
			},
			wantCodes: []string{CodeUserIDNotString},
			wantText:  []string{"a number (12345678901234567890)", `"user_id": "12345678901234567890"`}},
		{name: "user_id is a boolean",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["user_id"] = true }))
			},
			wantCodes: []string{CodeUserIDNotString},
			wantText:  []string{"a boolean"}},
		{name: "user_id empty",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["user_id"] = "" }))
			},
			wantCodes: []string{CodeUserIDEmpty}},
		{name: "user_id of another user", userID: "43",
			token:     func(t *testing.T) string { return testHS(t, "HS256", testSecret, valid()) },
			wantCodes: []string{CodeUserIDMismatch},
			wantText:  []string{`user_id "42" differs from the expected "43"`}},
		{name: "user_id differs only in case", userID: "ada@example.com",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["user_id"] = "Ada@Example.com" }))
			},
			wantCodes: []string{CodeUserIDCase},
			wantText:  []string{"differs only in case"}},
		{name: "user_id differs by whitespace", userID: "42",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["user_id"] = "42 " }))
			},
			wantCodes: []string{CodeUserIDMismatch},
			wantText:  []string{"surrounding whitespace"}},
		{name: "expired",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) {
					c["iat"] = unix(-3 * time.Hour)
					c["exp"] = unix(-(2*time.Hour + 5*time.Minute + 20*time.Second))
				}))
			},
			wantCodes: []string{CodeExpired},
			wantText:  []string{"expired 2h5m ago", "2025-06-01T09:54:40Z"}},
		{name: "expires exactly now",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["exp"] = unix(0) }))
			},
			wantCodes: []string{CodeExpired}},
		{name: "no exp", token: func(t *testing.T) string {
			return testHS(t, "HS256", testSecret, with(func(c map[string]any) { delete(c, "exp") }))
		},
			wantCodes: []string{CodeNoExp}, wantValid: true,
			wantText: []string{"never expires"}},
		{name: "exp 30 days away",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["exp"] = unix(30 * 24 * time.Hour) }))
			},
			wantCodes: []string{CodeExpFarFuture}, wantValid: true,
			wantText: []string{"30d0h in the future", "7d0h"}},
		{name: "exp 6 days away is fine",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["exp"] = unix(6 * 24 * time.Hour) }))
			},
			wantCodes: []string{}, wantValid: true},
		{name: "exp in milliseconds",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["exp"] = diagTestNow.Add(time.Hour).UnixMilli() }))
			},
			wantCodes: []string{CodeExpFarFuture}, wantValid: true,
			wantText: []string{"looks like milliseconds", "divide by 1000"}},
		{name: "exp is a string",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["exp"] = "tomorrow" }))
			},
			wantCodes: []string{CodeBadTimeClaim},
			wantText:  []string{`exp is a string "tomorrow"`}},
		{name: "iat 5 minutes in the future",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["iat"] = unix(5 * time.Minute) }))
			},
			wantCodes: []string{CodeIatFuture},
			wantText:  []string{"iat is 5m0s in the future", "clock"}},
		{name: "iat 30 seconds in the future is a warning",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["iat"] = unix(30 * time.Second) }))
			},
			wantCodes: []string{CodeIatFuture}, wantValid: true,
			wantText: []string{"30s in the future"}},
		{name: "nbf in the future",
			token: func(t *testing.T) string {
				return testHS(t, "HS256", testSecret, with(func(c map[string]any) { c["nbf"] = unix(10 * time.Minute) }))
			},
			wantCodes: []string{CodeNbfFuture}},
		{name: "no secret", secret: "-",
			token:     func(t *testing.T) string { return testHS(t, "HS256", testSecret, valid()) },
			wantCodes: []string{CodeNoSecret}},
		{name: "not a JWT", token: func(t *testing.T) string { return "not-a-token" },
			wantCodes: []string{CodeMalformed}, wantText: []string{"1 dot-separated part"}},
		{name: "a JWE", token: func(t *testing.T) string { return "a.b.c.d.e" },
			wantCodes: []string{CodeMalformed}, wantText: []string{"JWE"}},
		{name: "header not base64url", token: func(t *testing.T) string { return "!!!.e30.AA" },
			wantCodes: []string{CodeMalformed}, wantText: []string{"header part is not base64url"}},
		{name: "claims not JSON", token: func(t *testing.T) string { return "e30.bm9wZQ.AA" },
			wantCodes: []string{CodeMalformed}, wantText: []string{"claims are not a JSON object"}},
		{name: "padded base64",
			token: func(t *testing.T) string {
				return testRaw(`{"alg": "HS256"}`, `{"user_id":"42","exp":`+jsonInt(unix(time.Hour))+`}`, testSecret, base64.URLEncoding)
			},
			wantCodes: []string{CodeEncoding, CodeEncoding},
			wantText:  []string{"'=' padding"}},
		{name: "several problems in a fixed order",
			token: func(t *testing.T) string {
				return testRaw(`{"alg":"none"}`, `{"sub":"42","iat":`+jsonInt(unix(2*time.Hour))+`,"exp":`+jsonInt(unix(-time.Hour))+`}`, "", base64.RawURLEncoding)
			},
			wantCodes: []string{CodeAlgNone, CodeSubNotUserID, CodeExpired, CodeIatFuture}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secret := []byte(testSecret)
			switch tc.secret {
			case "":
			case "-":
				secret = nil
			default:
				secret = []byte(tc.secret)
			}
			token := tc.token(t)
			r := VerifyIntercomToken(token, secret, IntercomVerifyOptions{UserID: tc.userID, Clock: diagTestClock})
			if got := codes(r); !slices.Equal(got, tc.wantCodes) {
				t.Errorf("codes = %q, want %q\n%s", got, tc.wantCodes, findingText(r))
			}
			if r.Valid != tc.wantValid {
				t.Errorf("Valid = %v, want %v\n%s", r.Valid, tc.wantValid, findingText(r))
			}
			if r.Kind != KindIntercom {
				t.Errorf("Kind = %v", r.Kind)
			}
			for _, c := range tc.wantCodes {
				if !r.Has(c) {
					t.Errorf("Has(%q) = false", c)
				}
			}
			if r.Has("no_such_code") {
				t.Error("Has(no_such_code) = true")
			}
			text := findingText(r)
			for _, want := range tc.wantText {
				if !strings.Contains(text, want) {
					t.Errorf("findings lack %q:\n%s", want, text)
				}
			}
			for _, f := range r.Findings {
				if f.Problem == "" || (f.Severity != SeverityInfo && f.Fix == "") {
					t.Errorf("finding %s lacks a problem or a fix: %+v", f.Code, f)
				}
				if strings.Contains(f.Problem+f.Fix, testSecret) || strings.Contains(f.Problem+f.Fix, token) {
					t.Errorf("finding %s leaks the secret or the token", f.Code)
				}
			}
		})
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestVerifyIntercomTokenDeterministic(t *testing.T) {
	tok := testRaw(`{"alg":"none"}`, `{"sub":1,"exp":"x","iat":`+jsonInt(unix(time.Hour))+`,"nbf":`+jsonInt(unix(time.Hour))+`}`, "", base64.RawURLEncoding)
	first := VerifyIntercomToken(tok, []byte(testSecret), IntercomVerifyOptions{Clock: diagTestClock})
	for range 20 {
		again := VerifyIntercomToken(tok, []byte(testSecret), IntercomVerifyOptions{Clock: diagTestClock})
		if !slices.Equal(first.Findings, again.Findings) {
			t.Fatalf("findings differ between runs:\n%s\n%s", findingText(first), findingText(again))
		}
	}
}

func TestVerifySalesforceToken(t *testing.T) {
	const iss = "https://app.example.com"
	k := diagKeys()
	main := testJWK(t, k.mainCert, "k1", "RS256")
	set := keys.JWKS{Keys: []keys.JWK{main}}
	valid := func() map[string]any {
		return map[string]any{"sub": "u-1", "iss": iss, "iat": unix(-10 * time.Second), "exp": unix(time.Hour)}
	}
	with := func(edit func(map[string]any)) map[string]any {
		c := valid()
		edit(c)
		return c
	}
	noAlg, _ := keys.JWKFromCertificate(k.mainCert, "k1", "")
	noAlg.Alg = ""
	noX5c, _ := keys.JWKFromPublicKey(&k.main.PublicKey, "k1", "")
	mismatched := main
	mismatched.X5c = testJWK(t, testCert(t, k.other, diagTestNow.Add(-time.Hour), diagTestNow.Add(365*24*time.Hour)), "x", "").X5c
	weakCert := testCert(t, k.weak, diagTestNow.Add(-time.Hour), diagTestNow.Add(365*24*time.Hour))

	tests := []struct {
		name      string
		token     func(t *testing.T) string
		set       keys.JWKS
		issuer    string // "-" = not checked
		subject   string
		wantCodes []string
		wantValid bool
		wantKeyID string
		wantText  []string
	}{
		{name: "valid RS256", token: func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			wantCodes: []string{}, wantValid: true, wantKeyID: "k1"},
		{name: "valid RS512 with a key that declares no alg",
			token:     func(t *testing.T) string { return testRS(t, "RS512", k.main, "k1", valid()) },
			set:       keys.JWKS{Keys: []keys.JWK{noAlg}},
			wantCodes: []string{}, wantValid: true, wantKeyID: "k1"},
		{name: "RS512 with a key declared RS256",
			token:     func(t *testing.T) string { return testRS(t, "RS512", k.main, "k1", valid()) },
			wantCodes: []string{CodeKeyAlgMismatch}, wantValid: true, wantKeyID: "k1"},
		{name: "expected subject", subject: "u-1",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			wantCodes: []string{}, wantValid: true, wantKeyID: "k1"},
		{name: "no kid", token: func(t *testing.T) string { return testRS(t, "RS256", k.main, "", valid()) },
			wantCodes: []string{CodeNoKid},
			wantText:  []string{"no kid", `does verify with key "k1"`}},
		{name: "kid not in the key set",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k2", valid()) },
			wantCodes: []string{CodeUnknownKid},
			wantText:  []string{`kid "k2" is not in the key set (known: "k1")`, `set key_id to "k1"`}},
		{name: "kid not in the key set, signed by an unknown key",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.other, "k2", valid()) },
			wantCodes: []string{CodeUnknownKid},
			wantText:  []string{"upload the JWK for this kid"}},
		{name: "alg PS256", token: func(t *testing.T) string { return testRS(t, "PS256", k.main, "k1", valid()) },
			wantCodes: []string{CodeAlgUnsupported},
			wantText:  []string{`alg is "PS256"`, "RS256 or RS512"}},
		{name: "alg HS256 (an Intercom token)",
			token: func(t *testing.T) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(valid()))
				tok.Header["kid"] = "k1"
				s, _ := tok.SignedString([]byte("x"))
				return s
			},
			wantCodes: []string{CodeAlgUnsupported},
			wantText:  []string{"Intercom"}},
		{name: "alg none",
			token: func(t *testing.T) string {
				return testRaw(`{"alg":"none","kid":"k1"}`, `{"sub":"u-1","iss":"`+iss+`","exp":`+jsonInt(unix(time.Hour))+`}`, "", base64.RawURLEncoding)
			},
			wantCodes: []string{CodeAlgNone}},
		{name: "bad RSA signature",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.other, "k1", valid()) },
			wantCodes: []string{CodeBadSignature},
			wantText:  []string{`does not verify with key "k1"`}},
		{name: "iss with a trailing slash",
			token: func(t *testing.T) string {
				return testRS(t, "RS256", k.main, "k1", with(func(c map[string]any) { c["iss"] = iss + "/" }))
			},
			wantCodes: []string{CodeIssuerMismatch}, wantKeyID: "k1",
			wantText: []string{"only by a trailing slash"}},
		{name: "iss of another keyset",
			token: func(t *testing.T) string {
				return testRS(t, "RS256", k.main, "k1", with(func(c map[string]any) { c["iss"] = "intercom.com" }))
			},
			wantCodes: []string{CodeIssuerMismatch}, wantKeyID: "k1",
			wantText: []string{`iss "intercom.com" differs from the keyset issuer "https://app.example.com"`}},
		{name: "iss not checked", issuer: "-",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			wantCodes: []string{CodeIssuerUnchecked}, wantValid: true, wantKeyID: "k1"},
		{name: "no iss",
			token: func(t *testing.T) string {
				return testRS(t, "RS256", k.main, "k1", with(func(c map[string]any) { delete(c, "iss") }))
			},
			wantCodes: []string{CodeNoIssuer}, wantKeyID: "k1"},
		{name: "no sub",
			token: func(t *testing.T) string {
				return testRS(t, "RS256", k.main, "k1", with(func(c map[string]any) { delete(c, "sub") }))
			},
			wantCodes: []string{CodeNoSubject}, wantKeyID: "k1"},
		{name: "sub is a number",
			token: func(t *testing.T) string {
				return testRS(t, "RS256", k.main, "k1", with(func(c map[string]any) { c["sub"] = 7 }))
			},
			wantCodes: []string{CodeSubjectNotString}, wantKeyID: "k1"},
		{name: "sub differs only in case", subject: "U-1",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			wantCodes: []string{CodeSubjectCase}, wantKeyID: "k1"},
		{name: "sub of another user", subject: "u-2",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			wantCodes: []string{CodeSubjectMismatch}, wantKeyID: "k1"},
		{name: "expired",
			token: func(t *testing.T) string {
				return testRS(t, "RS256", k.main, "k1", with(func(c map[string]any) { c["exp"] = unix(-5 * time.Minute) }))
			},
			wantCodes: []string{CodeExpired}, wantKeyID: "k1", wantText: []string{"expired 5m0s ago"}},
		{name: "certificate expires in 4 days",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			set:       keys.JWKS{Keys: []keys.JWK{testJWK(t, testCert(t, k.main, diagTestNow.Add(-300*24*time.Hour), diagTestNow.Add(4*24*time.Hour+time.Hour)), "k1", "RS256")}},
			wantCodes: []string{CodeCertificateExpires}, wantValid: true, wantKeyID: "k1",
			wantText: []string{"expires in 4d1h", "keygen"}},
		{name: "certificate expired",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			set:       keys.JWKS{Keys: []keys.JWK{testJWK(t, testCert(t, k.main, diagTestNow.Add(-400*24*time.Hour), diagTestNow.Add(-2*24*time.Hour)), "k1", "RS256")}},
			wantCodes: []string{CodeCertificateExpired}, wantKeyID: "k1",
			wantText: []string{"expired 2d0h ago"}},
		{name: "certificate not valid yet",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			set:       keys.JWKS{Keys: []keys.JWK{testJWK(t, testCert(t, k.main, diagTestNow.Add(time.Hour), diagTestNow.Add(400*24*time.Hour)), "k1", "RS256")}},
			wantCodes: []string{CodeCertificateEarly}, wantValid: true, wantKeyID: "k1"},
		{name: "JWK without x5c",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			set:       keys.JWKS{Keys: []keys.JWK{noX5c}},
			wantCodes: []string{CodeNoX5c}, wantValid: true, wantKeyID: "k1"},
		{name: "x5c of another key",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			set:       keys.JWKS{Keys: []keys.JWK{mismatched}},
			wantCodes: []string{CodeBadCertificate}, wantKeyID: "k1"},
		{name: "1024-bit key",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.weak, "weak", valid()) },
			set:       keys.JWKS{Keys: []keys.JWK{testJWK(t, weakCert, "weak", "RS256")}},
			wantCodes: []string{CodeWeakKey}, wantValid: true, wantKeyID: "weak"},
		{name: "no set",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			set:       keys.JWKS{Keys: []keys.JWK{}},
			wantCodes: []string{CodeNoKeys}},
		{name: "rotation: old kid still verifies",
			token:     func(t *testing.T) string { return testRS(t, "RS256", k.main, "k1", valid()) },
			set:       keys.JWKS{Keys: []keys.JWK{testJWK(t, testCert(t, k.other, diagTestNow.Add(-time.Hour), diagTestNow.Add(365*24*time.Hour)), "k2", "RS256"), main}},
			wantCodes: []string{}, wantValid: true, wantKeyID: "k1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks := tc.set
			if ks.Keys == nil {
				ks = set
			}
			issuer := iss
			if tc.issuer == "-" {
				issuer = ""
			}
			r := VerifySalesforceToken(tc.token(t), ks, SalesforceVerifyOptions{Issuer: issuer, Subject: tc.subject, Clock: diagTestClock})
			if got := codes(r); !slices.Equal(got, tc.wantCodes) {
				t.Errorf("codes = %q, want %q\n%s", got, tc.wantCodes, findingText(r))
			}
			if r.Valid != tc.wantValid {
				t.Errorf("Valid = %v, want %v\n%s", r.Valid, tc.wantValid, findingText(r))
			}
			if r.KeyID != tc.wantKeyID {
				t.Errorf("KeyID = %q, want %q", r.KeyID, tc.wantKeyID)
			}
			if r.Kind != KindSalesforce {
				t.Errorf("Kind = %v", r.Kind)
			}
			text := findingText(r)
			for _, want := range tc.wantText {
				if !strings.Contains(text, want) {
					t.Errorf("findings lack %q:\n%s", want, text)
				}
			}
		})
	}
}

func TestDecodeUnverified(t *testing.T) {
	tok := testRaw(`{"kid":"k1","alg":"RS256"}`, `{"z":1,"user_id":12345678901234567890,"a":"x"}`, "s", base64.RawURLEncoding)
	d, err := DecodeUnverified(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(d.RawClaims); got != `{"z":1,"user_id":12345678901234567890,"a":"x"}` {
		t.Errorf("RawClaims = %s (order and spelling must be kept)", got)
	}
	if n, ok := d.Claims["user_id"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Errorf("user_id = %#v, want the exact json.Number", d.Claims["user_id"])
	}
	if d.Kind() != KindSalesforce {
		t.Errorf("Kind = %v", d.Kind())
	}
	if len(d.Signature) != 32 || d.SigningInput != tok[:strings.LastIndex(tok, ".")] {
		t.Errorf("signature %d bytes, signing input %q", len(d.Signature), d.SigningInput)
	}

	for _, bad := range []string{"", "a.b", "a.b.c.d", "e30.e30", "W10.e30.", "e30.W10.", "bnVsbA.e30.", "e30.e30x.", "e30.e30.***"} {
		if _, err := DecodeUnverified(bad); err == nil {
			t.Errorf("DecodeUnverified(%q): no error", bad)
		}
	}
}

func TestTokenKind(t *testing.T) {
	tests := []struct {
		header string
		want   injector.TokenKind
	}{
		{`{"alg":"HS256"}`, KindIntercom},
		{`{"alg":"HS256","kid":"x"}`, KindIntercom},
		{`{"alg":"RS256"}`, KindSalesforce},
		{`{"alg":"RS512"}`, KindSalesforce},
		{`{"alg":"ES256","kid":"x"}`, KindSalesforce},
		{`{"alg":"none","kid":"x"}`, KindSalesforce},
		{`{"alg":"none"}`, KindIntercom},
		{`{"alg":"ES256"}`, KindIntercom},
		{`{}`, KindIntercom},
	}
	for _, tc := range tests {
		d, err := DecodeUnverified(testRaw(tc.header, `{}`, "", base64.RawURLEncoding))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Kind(); got != tc.want {
			t.Errorf("%s: Kind = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{42 * time.Second, "42s"},
		{-42 * time.Second, "42s"},
		{59*time.Second + 600*time.Millisecond, "1m0s"},
		{5*time.Minute + 30*time.Second, "5m30s"},
		{time.Hour, "1h0m"},
		{2*time.Hour + 5*time.Minute + 20*time.Second, "2h5m"},
		{23*time.Hour + 59*time.Minute + 45*time.Second, "1d0h"},
		{3*24*time.Hour + 4*time.Hour + 10*time.Minute, "3d4h"},
	}
	for _, tc := range tests {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestSeverityString(t *testing.T) {
	for s, want := range map[Severity]string{SeverityInfo: "info", SeverityWarning: "warning", SeverityError: "error", 9: "severity(9)"} {
		if got := s.String(); got != want {
			t.Errorf("%d: %q, want %q", s, got, want)
		}
	}
}

func BenchmarkVerifyIntercomToken(b *testing.B) {
	tok := testHS(b, "HS256", testSecret, map[string]any{"user_id": "42", "email": "ada@example.com", "iat": unix(0), "exp": unix(time.Hour)})
	b.ReportAllocs()
	for b.Loop() {
		if r := VerifyIntercomToken(tok, []byte(testSecret), IntercomVerifyOptions{UserID: "42", Clock: diagTestClock}); !r.Valid {
			b.Fatal(findingText(r))
		}
	}
}

func BenchmarkVerifySalesforceToken(b *testing.B) {
	k := diagKeys()
	set := keys.JWKS{Keys: []keys.JWK{testJWK(b, k.mainCert, "k1", "RS256")}}
	tok := testRS(b, "RS256", k.main, "k1", map[string]any{"sub": "u-1", "iss": "i", "iat": unix(0), "exp": unix(time.Hour)})
	b.ReportAllocs()
	for b.Loop() {
		if r := VerifySalesforceToken(tok, set, SalesforceVerifyOptions{Issuer: "i", Clock: diagTestClock}); !r.Valid {
			b.Fatal(findingText(r))
		}
	}
}
