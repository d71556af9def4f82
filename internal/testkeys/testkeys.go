// Package testkeys gives every test package the same RSA keys, certificates
// and token builders. Generating an RSA key is the slow part of many tests,
// so each key is made once per test binary and shared.
package testkeys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func generate(bits int) func() *rsa.PrivateKey {
	return sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		return k
	})
}

var (
	// RSA is the main 2048-bit signing key of the tests.
	RSA = generate(2048)
	// OtherRSA is a second 2048-bit key: the "wrong key" of negative tests.
	OtherRSA = generate(2048)
	// WeakRSA is a 1024-bit key, which Salesforce and the module refuse.
	WeakRSA = generate(1024)
)

// PKCS1PEM encodes key as an "RSA PRIVATE KEY" PEM block.
func PKCS1PEM(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// PKCS8PEM encodes key as a "PRIVATE KEY" PEM block.
func PKCS8PEM(key any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Certificate makes a self-signed certificate for key valid from notBefore
// to notAfter. It panics on error: with a valid key there is none.
func Certificate(key *rsa.PrivateKey, notBefore, notAfter time.Time) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return cert
}

// CertificatePEM encodes cert as a "CERTIFICATE" PEM block.
func CertificatePEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// HS signs claims with an HMAC algorithm (HS256, HS384, HS512).
func HS(t testing.TB, alg string, secret []byte, claims map[string]any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.GetSigningMethod(alg), jwt.MapClaims(claims)).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// RS signs claims with an RSA algorithm (RS256, RS512, …); kid "" means no
// kid header.
func RS(t testing.TB, alg string, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), jwt.MapClaims(claims))
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
