package identityassertion

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify measures verifying one assertion with the keys cached: no
// fetch happens on the request path (the benchmark fails if one does).
func BenchmarkVerify(b *testing.B) {
	testKeys()
	for _, tc := range []struct {
		name string
		s    signer
	}{
		{"ES256", signer{kid: "ec-1", key: ecKey}},
		{"RS256", signer{kid: "rsa-1", key: rsaKey}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ks := newKeyServer(&testing.T{}, false, tc.s)
			defer ks.srv.Close()
			h := jwtHandler(ks.URL()+"/jwks", nil)
			h.Algorithms = []string{tc.s.method().Alg()}
			provision(b, h)
			now := time.Now().Unix()
			tok := tc.s.sign(jwt.MapClaims{"iss": "https://auth.internal", "aud": "app", "sub": "user-1",
				"email": "ada@example.com", "name": "Ada", "iat": now, "exp": now + 3600}, nil)
			ctx := context.Background()
			fetches := h.v.keys.fetchCount()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, id, res, err := h.v.verify(ctx, tok); res != resultValid || id != "user-1" {
					b.Fatalf("%s: %v", res, err)
				}
			}
			b.StopTimer()
			if n := h.v.keys.fetchCount() - fetches; n != 0 {
				b.Fatalf("%d key fetches on the request path", n)
			}
		})
	}
}
