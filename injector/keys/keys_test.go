package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
)

// privateMembers are the JWK members that carry private key material.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"}

// assertPublicOnly fails when a marshalled JWK (or every key of a JWKS) has
// a private member.
func assertPublicOnly(t *testing.T, raw []byte) {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var keys []map[string]json.RawMessage
	if ks, ok := doc["keys"]; ok {
		if err := json.Unmarshal(ks, &keys); err != nil {
			t.Fatal(err)
		}
	} else {
		var k map[string]json.RawMessage
		if err := json.Unmarshal(raw, &k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		for _, m := range privateMembers {
			if _, ok := k[m]; ok {
				t.Errorf("private member %q in %s", m, raw)
			}
		}
	}
}

func TestJWKFromCertificate(t *testing.T) {
	k := testKeys()
	jwk, err := JWKFromCertificate(k.mainCert, "k1", "")
	if err != nil {
		t.Fatal(err)
	}
	if jwk.Kty != "RSA" || jwk.Kid != "k1" || jwk.Alg != "RS256" || jwk.Use != "sig" || jwk.E != "AQAB" {
		t.Errorf("jwk = %+v", jwk)
	}
	der, err := base64.StdEncoding.DecodeString(jwk.X5c[0])
	if err != nil || !bytes.Equal(der, k.mainCert.Raw) || len(jwk.X5c) != 1 {
		t.Errorf("x5c is not the standard base64 DER certificate: %v", err)
	}
	pub, err := jwk.PublicKey()
	if err != nil || !pub.Equal(&k.main.PublicKey) {
		t.Errorf("PublicKey() = %v, %v; want the certificate's key", pub, err)
	}
	cert, err := jwk.Certificate()
	if err != nil || !cert.Equal(k.mainCert) {
		t.Errorf("Certificate() = %v", err)
	}

	raw, err := json.Marshal(jwk)
	if err != nil {
		t.Fatal(err)
	}
	var members map[string]any
	if err := json.Unmarshal(raw, &members); err != nil {
		t.Fatal(err)
	}
	got := make([]string, 0, len(members))
	for m := range members {
		got = append(got, m)
	}
	slices.Sort(got)
	if want := []string{"alg", "e", "kid", "kty", "n", "use", "x5c"}; !slices.Equal(got, want) {
		t.Errorf("members = %q, want %q", got, want)
	}
	if !strings.HasPrefix(string(raw), `{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":`) {
		t.Errorf("member order: %s", raw)
	}
	assertPublicOnly(t, raw)

	if j, err := JWKFromCertificate(k.mainCert, "k1", "RS512"); err != nil || j.Alg != "RS512" {
		t.Errorf("RS512: %+v, %v", j, err)
	}
}

func TestJWKFromCertificateErrors(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: testNow, NotAfter: testNow.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	ecCert, _ := x509.ParseCertificate(der)
	tests := []struct {
		name string
		cert *x509.Certificate
		alg  string
		want string
	}{
		{"nil", nil, "", "no certificate"},
		{"ECDSA", ecCert, "", "RSA key"},
		{"ES256", testKeys().mainCert, "ES256", "not supported"},
		{"HS256", testKeys().mainCert, "HS256", "not supported"},
	}
	for _, tc := range tests {
		_, err := JWKFromCertificate(tc.cert, "k", tc.alg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := JWKFromPublicKey(nil, "k", ""); err == nil {
		t.Error("JWKFromPublicKey(nil): no error")
	}
}

func TestJWKPublicKeyErrors(t *testing.T) {
	good, _ := JWKFromPublicKey(&testKeys().main.PublicKey, "k", "")
	tests := []struct {
		name string
		edit func(*JWK)
	}{
		{"kty EC", func(k *JWK) { k.Kty = "EC" }},
		{"no n", func(k *JWK) { k.N = "" }},
		{"n not base64url", func(k *JWK) { k.N = "***" }},
		{"short n", func(k *JWK) { k.N = "AQAB" }},
		{"no e", func(k *JWK) { k.E = "" }},
		{"even e", func(k *JWK) { k.E = "AQAA" }},
		{"e = 1", func(k *JWK) { k.E = "AQ" }},
		{"huge e", func(k *JWK) { k.E = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 9)) }},
	}
	for _, tc := range tests {
		k := good
		tc.edit(&k)
		if _, err := k.PublicKey(); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := good.PublicKey(); err != nil {
		t.Errorf("good key: %v", err)
	}
	bad := good
	bad.X5c = []string{"-----BEGIN CERTIFICATE-----"}
	if _, err := bad.Certificate(); err == nil || !strings.Contains(err.Error(), "without PEM header") {
		t.Errorf("PEM in x5c: %v", err)
	}
	if c, err := good.Certificate(); c != nil || err != nil {
		t.Errorf("no x5c: %v, %v", c, err)
	}
}

func TestParseJWKSet(t *testing.T) {
	k := testKeys()
	jwk := testJWK(t, k.mainCert, "k1", "RS256")
	single, _ := json.Marshal(jwk)
	// Salesforce's own tool writes dummy private-looking members; a real
	// private JWK has d, p, q…: none of them may survive a round trip.
	withPrivate := strings.Replace(string(single), `{"kty"`, `{"d":"secret-d","p":"pp","q":"qq","dp":"a","dq":"b","qi":"c","k":"k","kty"`, 1)

	t.Run("single JWK drops private members", func(t *testing.T) {
		set, err := ParseJWKSet([]byte(withPrivate))
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Keys) != 1 || set.Keys[0].Kid != "k1" {
			t.Fatalf("set = %+v", set)
		}
		raw, _ := json.Marshal(set)
		assertPublicOnly(t, raw)
		if strings.Contains(string(raw), "secret-d") {
			t.Errorf("private value survived: %s", raw)
		}
	})
	t.Run("JWKS", func(t *testing.T) {
		other := testJWK(t, testkeys.Certificate(k.other, testNow, testNow.Add(time.Hour)), "k2", "RS256")
		doc, err := JWKSDocument(jwk, other)
		if err != nil {
			t.Fatal(err)
		}
		set, err := ParseJWKSet(doc)
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Keys) != 2 || set.Keys[0].Kid != "k1" || set.Keys[1].Kid != "k2" {
			t.Errorf("set = %+v", set)
		}
		if got, ok := set.Find("k2"); !ok || got.N != other.N {
			t.Errorf("Find(k2) = %v", ok)
		}
		if _, ok := set.Find("k3"); ok {
			t.Error("Find(k3) found a key")
		}
	})
	errs := []struct {
		name, doc, want string
	}{
		{"not JSON", `nope`, "not a JSON object"},
		{"array", `[` + string(single) + `]`, "not a JSON object"},
		{"empty set", `{"keys":[]}`, "empty"},
		{"no kid", strings.Replace(string(single), `"kid":"k1",`, "", 1), "no kid"},
		{"duplicate kid", `{"keys":[` + string(single) + `,` + string(single) + `]}`, "twice"},
		{"EC key", `{"kty":"EC","kid":"e","crv":"P-256","x":"AA","y":"AA"}`, "kty"},
	}
	for _, tc := range errs {
		if _, err := ParseJWKSet([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestJWKSDocument(t *testing.T) {
	k := testKeys()
	current := testJWK(t, testkeys.Certificate(k.other, testNow, testNow.Add(time.Hour)), "new", "RS256")
	previous := testJWK(t, k.mainCert, "old", "RS256")
	doc, err := JWKSDocument(current, previous)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(doc, []byte("}\n")) {
		t.Errorf("document does not end in a newline")
	}
	assertPublicOnly(t, doc)
	var set JWKS
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != "new" || set.Keys[1].Kid != "old" {
		t.Errorf("keys out of order: %+v", set.Keys)
	}
	if _, err := JWKSDocument(current, current); err == nil {
		t.Error("duplicate kid accepted")
	}
	noKid := current
	noKid.Kid = ""
	if _, err := JWKSDocument(noKid); err == nil {
		t.Error("empty kid accepted")
	}
	empty, err := JWKSDocument()
	if err != nil || !bytes.Equal(bytes.Join(bytes.Fields(empty), nil), []byte(`{"keys":[]}`)) {
		t.Errorf("empty JWKS = %s, %v", empty, err)
	}
	if raw, _ := json.Marshal(JWKS{}); string(raw) != `{"keys":[]}` {
		t.Errorf("zero JWKS marshals as %s", raw)
	}
}

func TestParseCertificatesPEM(t *testing.T) {
	k := testKeys()
	gen, err := GenerateSalesforceKey(SalesforceKeyOptions{KeyID: "k", Issuer: "i", Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	mainPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.mainCert.Raw})
	chain := append(append([]byte{}, mainPEM...), gen.CertificatePEM...)
	certs, err := ParseCertificatesPEM(chain)
	if err != nil || len(certs) != 2 || !certs[0].Equal(k.mainCert) || !certs[1].Equal(gen.Certificate) {
		t.Errorf("chain: %d certs, %v", len(certs), err)
	}
	combined := append(append([]byte{}, gen.PrivateKeyPEM...), gen.CertificatePEM...)
	if certs, err := ParseCertificatesPEM(combined); err != nil || len(certs) != 1 {
		t.Errorf("key+cert file: %d certs, %v", len(certs), err)
	}
	errs := []struct {
		name string
		data []byte
		want string
	}{
		{"key only", gen.PrivateKeyPEM, "found PRIVATE KEY"},
		{"empty", []byte("  \n"), "empty"},
		{"DER", k.mainCert.Raw, "not PEM"},
		{"garbage certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}), "certificate 1"},
	}
	for _, tc := range errs {
		if _, err := ParseCertificatesPEM(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCertificateMatchesKey(t *testing.T) {
	k := testKeys()
	tests := []struct {
		name string
		cert *x509.Certificate
		pub  *rsa.PublicKey
		want bool
	}{
		{"pair", k.mainCert, &k.main.PublicKey, true},
		{"other key", k.mainCert, &k.other.PublicKey, false},
		{"nil cert", nil, &k.main.PublicKey, false},
		{"nil key", k.mainCert, nil, false},
	}
	for _, tc := range tests {
		if got := CertificateMatchesKey(tc.cert, tc.pub); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestKeyIDFromPath(t *testing.T) {
	tests := map[string]string{
		"/etc/caddy/app-2025.cert.pem": "app-2025",
		"keys/app.crt.pem":             "app",
		"app.pem":                      "app",
		"app.crt":                      "app",
		"app.v2.pem":                   "app.v2",
		"app":                          "app",
		".pem":                         ".pem",
		"dir/.cert.pem":                ".cert",
	}
	for path, want := range tests {
		if got := KeyIDFromPath(path); got != want {
			t.Errorf("KeyIDFromPath(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestGenerateSalesforceKey(t *testing.T) {
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	key, err := GenerateSalesforceKey(SalesforceKeyOptions{KeyID: "k1", Issuer: "https://app.example.com", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(key.PrivateKeyPEM)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("private key PEM block = %v", block)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("not PKCS#8: %v", err)
	}
	rsaKey, ok := priv.(*rsa.PrivateKey)
	if !ok || rsaKey.N.BitLen() != 2048 {
		t.Fatalf("key = %T", priv)
	}
	certs, err := ParseCertificatesPEM(key.CertificatePEM)
	if err != nil || !certs[0].Equal(key.Certificate) {
		t.Fatalf("certificate PEM: %v", err)
	}
	cert := key.Certificate
	if !CertificateMatchesKey(cert, &rsaKey.PublicKey) {
		t.Error("certificate does not hold the generated key")
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if cert.Subject.CommonName != "https://app.example.com" {
		t.Errorf("CN = %q", cert.Subject.CommonName)
	}
	if !cert.NotBefore.Equal(now.Add(-5*time.Minute)) || !cert.NotAfter.Equal(now.Add(DefaultCertificateValidity)) {
		t.Errorf("validity %v .. %v", cert.NotBefore, cert.NotAfter)
	}
	if cert.IsCA || cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("IsCA %v, KeyUsage %v", cert.IsCA, cert.KeyUsage)
	}
	want := testJWK(t, cert, "k1", "RS256")
	if !slices.Equal(key.JWK.X5c, want.X5c) || key.JWK.N != want.N || key.JWK.Kid != "k1" || key.JWK.Alg != "RS256" {
		t.Errorf("JWK = %+v", key.JWK)
	}

	long := strings.Repeat("i", 65)
	if k2, err := GenerateSalesforceKey(SalesforceKeyOptions{KeyID: "k2", Issuer: long, Now: now, Validity: 30 * 24 * time.Hour}); err != nil || k2.Certificate.Subject.CommonName != "k2" || !k2.Certificate.NotAfter.Equal(now.Add(30*24*time.Hour)) {
		t.Errorf("long issuer / custom validity: %v", err)
	}

	errs := []SalesforceKeyOptions{
		{KeyID: "k", Bits: 1024},
		{KeyID: "k", Bits: 2047},
		{KeyID: ""},
		{KeyID: "k", Validity: -time.Hour},
	}
	for _, opts := range errs {
		if _, err := GenerateSalesforceKey(opts); err == nil {
			t.Errorf("%+v: no error", opts)
		}
	}
}

func BenchmarkJWKSDocument(b *testing.B) {
	k := testKeys()
	keys := []JWK{testJWK(b, k.mainCert, "new", "RS256"), testJWK(b, k.mainCert, "old", "RS256")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := JWKSDocument(keys...); err != nil {
			b.Fatal(err)
		}
	}
}
