//go:build e2e

package e2e

import (
	"crypto/rsa"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// verifyIntercomJWT checks token's HS256 signature with the test secret,
// its expiry, and that it names wantUser with the claims the test sites
// configure; it returns the claims.
func verifyIntercomJWT(t *testing.T, token, wantUser string) jwt.MapClaims {
	t.Helper()
	return verifyHS256(t, token, testSecret, map[string]string{
		"user_id": wantUser,
		"email":   wantUser + "@example.test",
		"plan":    "e2e",
	})
}

// verifyHS256 checks an intercom_user_jwt against secret, requires a
// current exp and iat, and compares the string claims in want.
func verifyHS256(t *testing.T, token, secret string, want map[string]string) jwt.MapClaims {
	t.Helper()
	if token == "" {
		t.Fatalf("intercom_user_jwt is missing (want a token for %q)", want["user_id"])
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		return []byte(secret), nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(2*time.Second))
	if err != nil {
		t.Fatalf("intercom_user_jwt does not verify with the secret: %v", err)
	}
	for k, v := range want {
		if got := claims[k]; got != v {
			t.Fatalf("intercom_user_jwt claim %s = %v, want %q", k, got, v)
		}
	}
	return claims
}

// verifySalesforceJWT checks token's RS256 signature with pub, its kid,
// issuer, subject and expiry.
func verifySalesforceJWT(t *testing.T, token string, pub *rsa.PublicKey, kid, issuer, subject string) jwt.MapClaims {
	t.Helper()
	if token == "" {
		t.Fatalf("Salesforce identity token is missing (want one for %q)", subject)
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		return pub, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithIssuer(issuer), jwt.WithSubject(subject), jwt.WithLeeway(2*time.Second))
	if err != nil {
		t.Fatalf("Salesforce identity token does not verify with the test key: %v", err)
	}
	if got := tok.Header["kid"]; got != kid {
		t.Fatalf("Salesforce identity token kid = %v, want %q", got, kid)
	}
	return claims
}

// expiry returns the exp claim as a time.
func expiry(t *testing.T, claims jwt.MapClaims) time.Time {
	t.Helper()
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		t.Fatalf("token has no usable exp: %v", err)
	}
	return exp.Time
}
