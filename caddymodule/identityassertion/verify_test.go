package identityassertion

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestProviders runs every provider's format through the attacks of the
// issue: a valid assertion is honoured and published; each forgery leaves
// the request anonymous (or 401 with require) and is counted by its reason.
func TestProviders(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			provision(t, f.h)
			now := time.Now().Unix()
			type tc struct {
				name, want string
				hdr        map[string]string
			}
			cases := []tc{
				{"valid", resultValid, f.request(f.token(f.good, f.claims, nil))},
				{"absent", resultAbsent, nil},
				{"wrong key", resultInvalidSignature, f.request(f.token(f.rogue, f.claims, nil))},
				{"alg none", resultInvalidSignature, f.request(f.forge(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, f.claims))},
				{"HS256 keyed with the public key", resultInvalidSignature, f.request(f.forge(jwt.SigningMethodHS256, f.good.publicPEM(), f.claims))},
				{"expired", resultExpired, f.request(f.token(f.good, f.with(jwt.MapClaims{"exp": now - 120}), nil))},
				{"expired within leeway", resultValid, f.request(f.token(f.good, f.with(jwt.MapClaims{"exp": now - 10}), nil))},
				{"not yet valid", resultNotYetValid, f.request(f.token(f.good, f.with(jwt.MapClaims{"nbf": now + 600}), nil))},
				{"issued in the future", resultNotYetValid, f.request(f.token(f.good, f.with(jwt.MapClaims{"iat": now + 600}), nil))},
				{"no exp", resultMalformed, f.request(f.token(f.good, f.with(jwt.MapClaims{"exp": nil}), nil))},
				{"wrong iss", resultWrongIssuer, f.request(f.token(f.good, f.with(jwt.MapClaims{"iss": "https://evil.example"}), nil))},
				{"unknown kid", resultUnknownKey, f.request(f.token(signer{kid: "made-up-1", key: f.rogue.key}, f.claims, nil))},
				{"no user claim", resultMalformed, f.request(f.token(f.good, f.with(jwt.MapClaims{f.h.UserClaim: nil}), nil))},
				{"not a JWT", resultMalformed, f.request("not.a.jwt")},
			}
			if !f.alb {
				cases = append(cases,
					tc{"wrong aud", resultWrongAudience, f.request(f.token(f.good, f.with(jwt.MapClaims{"aud": "someone-else"}), nil))},
					tc{"no aud", resultWrongAudience, f.request(f.token(f.good, f.with(jwt.MapClaims{"aud": nil}), nil))})
			} else {
				cases = append(cases,
					tc{"wrong signer", resultWrongSigner, f.request(f.token(f.good, f.claims, map[string]any{"signer": albARN + "0"}))},
					tc{"no signer", resultWrongSigner, f.request(f.token(f.good, f.claims, map[string]any{"signer": nil}))})
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := testutil.ToFloat64(allMetrics.results[c.want])
					o := serve(t, f.h, c.hdr)
					if !o.passed {
						t.Fatalf("request did not go on (status %d)", o.status)
					}
					if c.want == resultValid {
						if o.user != f.user {
							t.Errorf("{http.auth.user.id} = %q, want %q", o.user, f.user)
						}
						if want, _ := f.claims["email"].(string); o.email != want {
							t.Errorf("{http.auth.user.email} = %q, want %q", o.email, want)
						}
					} else if o.user != "" {
						t.Errorf("rejected assertion published user %q", o.user)
					}
					if got := testutil.ToFloat64(allMetrics.results[c.want]) - before; got != 1 {
						t.Errorf("caddy_identity_assertion_total{result=%q} grew by %v, want 1", c.want, got)
					}
				})
			}
			t.Run("two header lines", func(t *testing.T) {
				tok := f.token(f.good, f.claims, nil)
				req := f.request(tok)
				for k, v := range req {
					o := serveMulti(t, f.h, k, []string{v, v})
					if o.user != "" {
						t.Errorf("repeated header honoured as %q", o.user)
					}
				}
			})
			t.Run("require", func(t *testing.T) {
				f.h.Require = true
				defer func() { f.h.Require = false }()
				if o := serve(t, f.h, f.request(f.token(f.rogue, f.claims, nil))); o.passed || o.status != 401 {
					t.Errorf("forged assertion with require: passed=%v status=%d, want 401", o.passed, o.status)
				}
				if o := serve(t, f.h, nil); o.passed || o.status != 401 {
					t.Errorf("absent assertion with require: passed=%v status=%d, want 401", o.passed, o.status)
				}
				if o := serve(t, f.h, f.request(f.token(f.good, f.claims, nil))); !o.passed || o.user != f.user {
					t.Errorf("valid assertion with require: passed=%v user=%q", o.passed, o.user)
				}
			})
		})
	}
}

// TestALBPaddedSegments checks that the ALB fixture really sends padding
// (so the test above proves padded tokens verify) and that a strict parser
// would refuse it.
func TestALBPaddedSegments(t *testing.T) {
	testKeys()
	s := signer{kid: "k", key: ecKey}
	tok := s.signALB(jwt.MapClaims{"sub": "x"}, map[string]any{"signer": albARN, "exp": 1})
	if !strings.Contains(tok, "=") {
		t.Fatalf("fixture token has no padding: %s", tok)
	}
	_, err := jwt.NewParser().Parse(tok, func(*jwt.Token) (any, error) { return ecKey.Public(), nil })
	if err == nil {
		t.Fatal("a strict parser accepted a padded token; the fixture proves nothing")
	}
}
