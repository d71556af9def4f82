package identityassertion

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds mutated assertions (seeded with valid ones in the JWT and
// the ALB format) to the verifier with real cached keys. Whatever the input:
// no panic, a known result, and "valid" only for the identity a real key
// signed — a mutation never turns into another user.
func FuzzVerify(f *testing.F) {
	testKeys()
	es := signer{kid: "ec-1", key: ecKey}
	ks := newKeyServer(&testing.T{}, false, es)
	defer ks.srv.Close()
	tm := defaultTiming
	tm.minInterval = time.Hour // no refetch while fuzzing: the key set is fixed
	jh := jwtHandler(ks.URL()+"/jwks", &tm)
	jh.Algorithms = []string{"ES256", "RS256"}
	provision(f, jh)
	ah := &Handler{Provider: providerALB, Region: "us-east-1", Signer: []string{albARN}, JWKSURL: ks.URL() + "/alb", timing: &tm}
	provision(f, ah)

	exp := time.Now().Add(24 * time.Hour).Unix()
	f.Add(false, es.sign(jwt.MapClaims{"iss": "https://auth.internal", "aud": "app", "sub": "fuzz-user", "exp": exp}, nil))
	f.Add(true, es.signALB(jwt.MapClaims{"sub": "fuzz-user", "email": "f@example.com"}, map[string]any{"signer": albARN, "exp": exp}))
	f.Add(false, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.")
	f.Add(true, "a.b.c")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, alb bool, raw string) {
		h := jh
		if alb {
			h = ah
		}
		if len(raw) > maxAssertion {
			return
		}
		claims, id, res, _ := h.v.verify(ctx, raw)
		if !slices.Contains(allResults, res) {
			t.Fatalf("unknown result %q", res)
		}
		if res == resultValid && (id != "fuzz-user" || claims["sub"] != "fuzz-user") {
			t.Fatalf("mutated assertion verified as %q: %v", id, claims)
		}
	})
}
