package keys

import (
	"crypto/rsa"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
)

// testNow is the fixed clock of the key tests.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type fixtureKeys struct {
	main, other *rsa.PrivateKey
	mainCert    *x509.Certificate
}

// testKeys holds the shared RSA keys: main with a certificate valid around testNow.
var testKeys = sync.OnceValue(func() fixtureKeys {
	return fixtureKeys{
		main:     testkeys.RSA(),
		other:    testkeys.OtherRSA(),
		mainCert: testkeys.Certificate(testkeys.RSA(), testNow.Add(-24*time.Hour), testNow.Add(365*24*time.Hour)),
	}
})

func testJWK(t testing.TB, cert *x509.Certificate, kid, alg string) JWK {
	t.Helper()
	k, err := JWKFromCertificate(cert, kid, alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
