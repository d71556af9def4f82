package injector

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
)

// testKeys are generated once per test binary: RSA key generation is the
// slow part of these tests.
type testKeys struct {
	rsa2048 *rsa.PrivateKey
	rsa1024 *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	x25519  *ecdh.PrivateKey
	cert    []byte // DER, self-signed with rsa2048
}

var (
	keysOnce sync.Once
	keys     testKeys
	keysErr  error
)

// getTestKeys returns the RSA keys shared by every test package
// (internal/testkeys) and the other key types of the format tests.
func getTestKeys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		k := testKeys{rsa2048: testkeys.RSA(), rsa1024: testkeys.WeakRSA()}
		if k.ec, keysErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); keysErr != nil {
			return
		}
		if _, k.ed, keysErr = ed25519.GenerateKey(rand.Reader); keysErr != nil {
			return
		}
		if k.x25519, keysErr = ecdh.X25519().GenerateKey(rand.Reader); keysErr != nil {
			return
		}
		k.cert = testkeys.Certificate(k.rsa2048, testNow.Add(-time.Hour), testNow.Add(24*time.Hour)).Raw
		keys = k
	})
	if keysErr != nil {
		t.Fatalf("generating test keys: %v", keysErr)
	}
	return &keys
}

func pemBlock(typ string, der []byte, headers map[string]string) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: der})
}

func pkcs1PEM(k *rsa.PrivateKey) []byte {
	return pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), nil)
}

func pkcs8DER(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pkcs8PEM(t testing.TB, k any) []byte { return pemBlock("PRIVATE KEY", pkcs8DER(t, k), nil) }

// pemBody returns the base64 lines of all PEM blocks in b, without the
// BEGIN/END lines and headers: the key material an error must not echo.
func pemBody(b []byte) []byte {
	var body []byte
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "-----") || strings.Contains(line, ":") {
			continue
		}
		body = append(body, line...)
	}
	return body
}

func TestParseRSAPrivateKeyAccepts(t *testing.T) {
	k := getTestKeys(t)
	certPEM := pemBlock("CERTIFICATE", k.cert, nil)
	tests := []struct {
		name string
		pem  []byte
	}{
		{"PKCS#1", pkcs1PEM(k.rsa2048)},
		{"PKCS#8", pkcs8PEM(t, k.rsa2048)},
		{"PKCS#8 labelled RSA PRIVATE KEY", pemBlock("RSA PRIVATE KEY", pkcs8DER(t, k.rsa2048), nil)},
		{"PKCS#1 labelled PRIVATE KEY", pemBlock("PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa2048), nil)},
		{"certificate before key, text around", append(append([]byte("subject=caddy-intercom test\n"), certPEM...), pkcs8PEM(t, k.rsa2048)...)},
		{"key before certificate", append(pkcs1PEM(k.rsa2048), certPEM...)},
		{"CRLF line endings", []byte(strings.ReplaceAll(string(pkcs1PEM(k.rsa2048)), "\n", "\r\n"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRSAPrivateKey(tt.pem)
			if err != nil {
				t.Fatalf("ParseRSAPrivateKey: %v", err)
			}
			if !got.Equal(k.rsa2048) {
				t.Errorf("parsed key differs from the encoded key")
			}
		})
	}
}

func TestParseRSAPrivateKeyRejects(t *testing.T) {
	k := getTestKeys(t)
	rsaDER := x509.MarshalPKCS1PrivateKey(k.rsa2048)
	encHeaders := map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"}
	tests := []struct {
		name    string
		pem     []byte
		wantErr string
	}{
		{"EC key, PKCS#8", pkcs8PEM(t, k.ec), "EC key found (P-256, PRIVATE KEY block); Salesforce requires an RSA key"},
		{"EC key, SEC 1", func() []byte {
			der, err := x509.MarshalECPrivateKey(k.ec)
			if err != nil {
				t.Fatal(err)
			}
			return pemBlock("EC PRIVATE KEY", der, nil)
		}(), "EC key found (P-256, EC PRIVATE KEY block); Salesforce requires an RSA key"},
		{"EC label, unparseable", pemBlock("EC PRIVATE KEY", []byte("junk"), nil), "EC key found (EC PRIVATE KEY block); Salesforce requires an RSA key"},
		{"Ed25519 key", pkcs8PEM(t, k.ed), "Ed25519 key found (PRIVATE KEY block); Salesforce requires an RSA key"},
		{"X25519 key", pkcs8PEM(t, k.x25519), "X25519 key found (PRIVATE KEY block); Salesforce requires an RSA key"},
		{"encrypted PEM, Proc-Type", pemBlock("RSA PRIVATE KEY", rsaDER, encHeaders),
			"encrypted PEM found (RSA PRIVATE KEY block with Proc-Type: ENCRYPTED); decrypt it first, e.g. openssl pkey -in key.pem -out key-decrypted.pem"},
		{"encrypted PKCS#8", pemBlock("ENCRYPTED PRIVATE KEY", pkcs8DER(t, k.rsa2048), nil),
			"encrypted private key found (ENCRYPTED PRIVATE KEY block); decrypt it first, e.g. openssl pkey -in key.pem -out key-decrypted.pem"},
		{"1024-bit key, PKCS#1", pkcs1PEM(k.rsa1024), "RSA key is 1024 bits; at least 2048 bits are required"},
		{"1024-bit key, PKCS#8", pkcs8PEM(t, k.rsa1024), "RSA key is 1024 bits; at least 2048 bits are required"},
		{"certificate only", pemBlock("CERTIFICATE", k.cert, nil), "no private key found in PEM (found CERTIFICATE): expected an RSA private key"},
		{"public key and certificate", append(pemBlock("PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa2048.PublicKey), nil), pemBlock("CERTIFICATE", k.cert, nil)...),
			"no private key found in PEM (found PUBLIC KEY, CERTIFICATE): expected an RSA private key"},
		{"DER, not PEM", rsaDER, "no PEM data found: expected a PEM-encoded RSA private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"},
		{"empty", nil, "no PEM data found: expected a PEM-encoded RSA private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"},
		{"damaged base64", []byte("-----BEGIN PRIVATE KEY-----\nMIIE!!!notbase64!!!\n-----END PRIVATE KEY-----\n"),
			"malformed PEM: a -----BEGIN line was found but no block could be decoded (damaged base64 or missing -----END line)"},
		{"missing END line", pkcs1PEM(k.rsa2048)[:200],
			"malformed PEM: a -----BEGIN line was found but no block could be decoded (damaged base64 or missing -----END line)"},
		{"two private keys", append(pkcs1PEM(k.rsa2048), pkcs8PEM(t, k.rsa2048)...), "more than one private key found in PEM; provide exactly one RSA private key"},
		{"OpenSSH key", pemBlock("OPENSSH PRIVATE KEY", rsaDER, nil),
			"OpenSSH private key found (OPENSSH PRIVATE KEY block); convert it to PEM (ssh-keygen -p -m PEM -f key) and use an RSA key"},
		{"PKCS#8 with unknown algorithm (DSA)", func() []byte {
			der, err := asn1.Marshal(struct {
				Version    int
				Algorithm  pkix.AlgorithmIdentifier
				PrivateKey []byte
			}{0, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}}, rsaDER[:64]})
			if err != nil {
				t.Fatal(err)
			}
			return pemBlock("PRIVATE KEY", der, nil)
		}(), "PKCS#8 key with an unsupported algorithm found (PRIVATE KEY block); Salesforce requires an RSA key"},
		{"DSA key", pemBlock("DSA PRIVATE KEY", rsaDER[:64], nil),
			`unsupported private key block "DSA PRIVATE KEY"; expected RSA PRIVATE KEY (PKCS#1) or PRIVATE KEY (PKCS#8)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseRSAPrivateKey(tt.pem)
			if err == nil || key != nil {
				t.Fatalf("ParseRSAPrivateKey = %v, %v; want error", key != nil, err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q\nwant    %q", err, tt.wantErr)
			}
			assertNoLeak(t, err.Error(), pemBody(tt.pem))
			assertNoLeak(t, err.Error(), rsaDER)
		})
	}
}

// Garbage inside a key block is reported with the parser's reason, which
// describes structure only.
func TestParseRSAPrivateKeyRejectsGarbageKeyBlock(t *testing.T) {
	garbage := []byte("this-is-not-DER-but-looks-secret-0123456789")
	for _, typ := range []string{"PRIVATE KEY", "RSA PRIVATE KEY"} {
		t.Run(typ, func(t *testing.T) {
			_, err := ParseRSAPrivateKey(pemBlock(typ, garbage, nil))
			if err == nil {
				t.Fatal("want error")
			}
			if want := "cannot parse " + typ + " block: not a valid PKCS#1 or PKCS#8 private key (damaged or wrong format)"; err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			assertNoLeak(t, err.Error(), garbage)
		})
	}
}

const (
	testKID = "caddy-intercom-2025"
	testISS = "https://app.example.com"
	testAUD = "https://example.my.salesforce-scrt.com"
)

func newTestSalesforceSigner(t testing.TB, mod func(*SalesforceConfig)) *SalesforceSigner {
	t.Helper()
	cfg := SalesforceConfig{
		PrivateKeyPEM: pkcs8PEM(t, getTestKeys(t).rsa2048),
		KeyID:         testKID,
		Issuer:        testISS,
		Clock:         fixedClock(testNow),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSalesforceSigner(cfg)
	if err != nil {
		t.Fatalf("NewSalesforceSigner: %v", err)
	}
	return s
}

// verifySalesforceToken checks the exact header, verifies the RSA signature
// with crypto/rsa against pub, validates with golang-jwt at now and compares
// the claims with want (numbers as json.Number), with no extra claims.
func verifySalesforceToken(t *testing.T, tok string, pub *rsa.PublicKey, alg, kid string, now time.Time, want map[string]any) {
	t.Helper()
	h, p, sig := splitJWT(t, tok)

	header := decodeClaims(t, decodeSegment(t, h))
	wantHeader := map[string]any{"alg": alg, "typ": "JWT", "kid": kid}
	if len(header) != len(wantHeader) {
		t.Errorf("header = %v, want exactly %v", header, wantHeader)
	}
	for k, w := range wantHeader {
		if header[k] != w {
			t.Errorf("header %q = %#v, want %#v", k, header[k], w)
		}
	}

	var err error
	signed := []byte(h + "." + p)
	switch alg {
	case "RS256":
		d := sha256.Sum256(signed)
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], decodeSegment(t, sig))
	case "RS512":
		d := sha512.Sum512(signed)
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA512, d[:], decodeSegment(t, sig))
	default:
		t.Fatalf("unexpected alg %q", alg)
	}
	if err != nil {
		t.Errorf("crypto/rsa: signature does not verify: %v", err)
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{alg}),
		jwt.WithTimeFunc(fixedClock(now)),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(want["iss"].(string)),
		jwt.WithSubject(want["sub"].(string)),
	}
	if aud, ok := want["aud"].(string); ok {
		opts = append(opts, jwt.WithAudience(aud))
	}
	parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		if tk.Header["kid"] != kid {
			return nil, fmt.Errorf("unknown kid %v", tk.Header["kid"])
		}
		return pub, nil
	}, opts...)
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt rejected the token: %v", err)
	}

	got := decodeClaims(t, decodeSegment(t, p))
	if len(got) != len(want) {
		t.Errorf("payload has %d claims, want %d: %v", len(got), len(want), got)
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("claim %q = %#v (%T), want %#v (%T)", k, g, g, w, w)
		}
	}
}

func wantSalesforceClaims(iss, sub, aud string, now time.Time, ttl time.Duration) map[string]any {
	m := map[string]any{
		"iss": iss,
		"sub": sub,
		"iat": json.Number(fmt.Sprint(now.Unix())),
		"exp": json.Number(fmt.Sprint(now.Unix() + int64(ttl/time.Second))),
	}
	if aud != "" {
		m["aud"] = aud
	}
	return m
}

func TestSalesforceSign(t *testing.T) {
	k := getTestKeys(t)
	tests := []struct {
		name    string
		cfg     func(*SalesforceConfig)
		subject string
		alg     string
		ttl     time.Duration
	}{
		{"defaults: RS256, 1h, no aud", nil, "003XX000004TmiQ", "RS256", DefaultTTL},
		{"explicit RS256", func(c *SalesforceConfig) { c.Algorithm = "RS256" }, "u-1", "RS256", DefaultTTL},
		{"RS512", func(c *SalesforceConfig) { c.Algorithm = "RS512" }, "u-1", "RS512", DefaultTTL},
		{"audience", func(c *SalesforceConfig) { c.Audience = testAUD }, "u-1", "RS256", DefaultTTL},
		{"RS512 with audience and 5m", func(c *SalesforceConfig) {
			c.Algorithm, c.Audience, c.TTL = "RS512", testAUD, 5*time.Minute
		}, "u-1", "RS512", 5 * time.Minute},
		{"PKCS#1 key", func(c *SalesforceConfig) { c.PrivateKeyPEM = pkcs1PEM(k.rsa2048) }, "u-1", "RS256", DefaultTTL},
		{"leading zeros stay a string", nil, "007", "RS256", DefaultTTL},
		{"mixed case and unicode", nil, "UsEr-Zoë-ユーザー", "RS256", DefaultTTL},
		{"needs escaping", nil, "a\"b\\c</script>\u2028\t", "RS256", DefaultTTL},
		{"very long", nil, strings.Repeat("Ab0é-", 2000), "RS256", DefaultTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSalesforceSigner(t, tt.cfg)
			tok, err := s.Sign(tt.subject)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			aud := ""
			if tt.cfg != nil {
				var c SalesforceConfig
				tt.cfg(&c)
				aud = c.Audience
			}
			want := wantSalesforceClaims(testISS, tt.subject, aud, testNow, tt.ttl)
			// Verified against the generated key, not the signer's own view of it.
			verifySalesforceToken(t, tok.Value, &k.rsa2048.PublicKey, tt.alg, testKID, testNow, want)

			if w := time.Unix(testNow.Unix(), 0); !tok.IssuedAt.Equal(w) {
				t.Errorf("IssuedAt = %v, want %v", tok.IssuedAt, w)
			}
			if d := tok.ExpiresAt.Sub(tok.IssuedAt); d != tt.ttl {
				t.Errorf("ExpiresAt - IssuedAt = %v, want %v", d, tt.ttl)
			}
		})
	}
}

// Values with characters that need JSON escaping in kid and iss are carried
// exactly, and aud is a plain string, not golang-jwt's one-element array.
func TestSalesforceSignEscapesConfiguredStrings(t *testing.T) {
	const kid, iss = `kid "quoted" \ é`, "https://app.example.com/<path>?a=1&b=2"
	s := newTestSalesforceSigner(t, func(c *SalesforceConfig) { c.KeyID, c.Issuer, c.Audience = kid, iss, testAUD })
	tok, err := s.Sign("u")
	if err != nil {
		t.Fatal(err)
	}
	verifySalesforceToken(t, tok.Value, s.PublicKey(), "RS256", kid, testNow, wantSalesforceClaims(iss, "u", testAUD, testNow, DefaultTTL))
	_, p, _ := splitJWT(t, tok.Value)
	if raw := string(decodeSegment(t, p)); !strings.Contains(raw, `"aud":"`+testAUD+`"`) {
		t.Errorf("aud is not a plain string in %s", raw)
	}
}

func TestSalesforceSignReadsClockEachTime(t *testing.T) {
	now := testNow
	s := newTestSalesforceSigner(t, func(c *SalesforceConfig) { c.Clock = func() time.Time { return now } })
	for _, d := range []time.Duration{0, 61 * time.Minute} {
		now = testNow.Add(d)
		tok, err := s.Sign("u")
		if err != nil {
			t.Fatal(err)
		}
		verifySalesforceToken(t, tok.Value, s.PublicKey(), "RS256", testKID, now, wantSalesforceClaims(testISS, "u", "", now, DefaultTTL))
	}
}

func TestSalesforceSignConcurrent(t *testing.T) {
	s := newTestSalesforceSigner(t, nil)
	pub := s.PublicKey()
	const goroutines, perG = 4, 3
	tokens := make([][]Token, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				tok, err := s.Sign(fmt.Sprintf("user-%d-%d", g, i))
				if err != nil {
					t.Error(err)
					return
				}
				tokens[g] = append(tokens[g], tok)
			}
		}()
	}
	wg.Wait()
	for g := range tokens {
		for i, tok := range tokens[g] {
			sub := fmt.Sprintf("user-%d-%d", g, i)
			verifySalesforceToken(t, tok.Value, pub, "RS256", testKID, testNow, wantSalesforceClaims(testISS, sub, "", testNow, DefaultTTL))
		}
	}
}

func TestSalesforceSignRejects(t *testing.T) {
	s := newTestSalesforceSigner(t, nil)
	tests := []struct {
		name, subject, wantErr string
	}{
		{"empty subject", "", "salesforce token: subject (sub) is empty"},
		{"subject not utf-8", "contact-\xff-secretish", "salesforce token: subject (sub) is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := s.Sign(tt.subject)
			if err == nil || tok != (Token{}) {
				t.Fatalf("Sign = %+v, %v; want error and no token", tok, err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewSalesforceSignerRejects(t *testing.T) {
	k := getTestKeys(t)
	good := pkcs8PEM(t, k.rsa2048)
	tests := []struct {
		name    string
		cfg     SalesforceConfig
		wantErr string
	}{
		{"empty kid", SalesforceConfig{PrivateKeyPEM: good, Issuer: testISS}, "salesforce signer: key id (kid) is empty"},
		{"kid not utf-8", SalesforceConfig{PrivateKeyPEM: good, KeyID: "k\xff", Issuer: testISS}, "salesforce signer: key id (kid) is not valid UTF-8"},
		{"empty iss", SalesforceConfig{PrivateKeyPEM: good, KeyID: testKID}, "salesforce signer: issuer (iss) is empty"},
		{"iss not utf-8", SalesforceConfig{PrivateKeyPEM: good, KeyID: testKID, Issuer: "i\xff"}, "salesforce signer: issuer (iss) is not valid UTF-8"},
		{"aud not utf-8", SalesforceConfig{PrivateKeyPEM: good, KeyID: testKID, Issuer: testISS, Audience: "a\xff"}, "salesforce signer: audience (aud) is not valid UTF-8"},
		{"HS256", SalesforceConfig{PrivateKeyPEM: good, KeyID: testKID, Issuer: testISS, Algorithm: "HS256"},
			`salesforce signer: unsupported algorithm "HS256": Salesforce accepts RS256 or RS512`},
		{"ES256", SalesforceConfig{PrivateKeyPEM: good, KeyID: testKID, Issuer: testISS, Algorithm: "ES256"},
			`salesforce signer: unsupported algorithm "ES256": Salesforce accepts RS256 or RS512`},
		{"lower-case rs256", SalesforceConfig{PrivateKeyPEM: good, KeyID: testKID, Issuer: testISS, Algorithm: "rs256"},
			`salesforce signer: unsupported algorithm "rs256": Salesforce accepts RS256 or RS512`},
		{"fractional ttl", SalesforceConfig{PrivateKeyPEM: good, KeyID: testKID, Issuer: testISS, TTL: 2500 * time.Millisecond},
			"salesforce signer: TTL must be a whole number of seconds, got 2.5s"},
		{"negative ttl", SalesforceConfig{PrivateKeyPEM: good, KeyID: testKID, Issuer: testISS, TTL: -time.Second},
			"salesforce signer: TTL must be at least 1s, got -1s"},
		{"no key", SalesforceConfig{KeyID: testKID, Issuer: testISS},
			"salesforce signer: no PEM data found: expected a PEM-encoded RSA private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"},
		{"EC key", SalesforceConfig{PrivateKeyPEM: pkcs8PEM(t, k.ec), KeyID: testKID, Issuer: testISS},
			"salesforce signer: EC key found (P-256, PRIVATE KEY block); Salesforce requires an RSA key"},
		{"small key", SalesforceConfig{PrivateKeyPEM: pkcs1PEM(k.rsa1024), KeyID: testKID, Issuer: testISS},
			"salesforce signer: RSA key is 1024 bits; at least 2048 bits are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSalesforceSigner(tt.cfg)
			if err == nil || s != nil {
				t.Fatalf("NewSalesforceSigner = %v, %v; want error", s, err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q\nwant    %q", err, tt.wantErr)
			}
			assertNoLeak(t, err.Error(), pemBody(tt.cfg.PrivateKeyPEM))
			assertNoLeak(t, err.Error(), pemBody(good))
		})
	}
}

func TestSalesforceSignerAccessors(t *testing.T) {
	k := getTestKeys(t)
	s := newTestSalesforceSigner(t, nil)
	if got := s.KeyID(); got != testKID {
		t.Errorf("KeyID() = %q, want %q", got, testKID)
	}
	pub := s.PublicKey()
	if !pub.Equal(&k.rsa2048.PublicKey) {
		t.Fatal("PublicKey() is not the public half of the configured key")
	}
	// The returned key is a copy: changing it must not affect signing.
	pub.N.SetInt64(3)
	pub.E = 3
	tok, err := s.Sign("u")
	if err != nil {
		t.Fatal(err)
	}
	verifySalesforceToken(t, tok.Value, &k.rsa2048.PublicKey, "RS256", testKID, testNow, wantSalesforceClaims(testISS, "u", "", testNow, DefaultTTL))
	if !s.PublicKey().Equal(&k.rsa2048.PublicKey) {
		t.Error("mutating the returned public key changed the signer's key")
	}
}

func BenchmarkSalesforceToken(b *testing.B) {
	k := getTestKeys(b)
	for _, alg := range []string{"RS256", "RS512"} {
		b.Run(alg, func(b *testing.B) {
			s := newTestSalesforceSigner(b, func(c *SalesforceConfig) { c.Algorithm, c.Audience, c.Clock = alg, testAUD, nil })
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(benchIdentity.UserID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The bare RSA operation, to show what Sign adds on top of it.
	b.Run("raw_SignPKCS1v15_SHA256", func(b *testing.B) {
		digest := sha256.Sum256([]byte("header.payload"))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rsa.SignPKCS1v15(nil, k.rsa2048, crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParseRSAPrivateKey(b *testing.B) {
	pemBytes := pkcs8PEM(b, getTestKeys(b).rsa2048)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRSAPrivateKey(pemBytes); err != nil {
			b.Fatal(err)
		}
	}
}
