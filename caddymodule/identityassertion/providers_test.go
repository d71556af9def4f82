package identityassertion

import (
	"maps"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const albARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/app/50dc6c495c0c9188"

// fx is one provider's format: a handler configured as an operator would
// (keys from a real local key server), the provider's signing key, and how
// the provider puts an assertion on a request.
type fx struct {
	name   string
	h      *Handler
	ks     *keyServer
	good   signer
	rogue  signer // same kid, another key: an attacker's
	header string
	bearer bool
	alb    bool
	claims jwt.MapClaims // a valid assertion's claims
	user   string        // the user it names
}

// fixtures returns one fx per provider, each with its own key server.
func fixtures(t *testing.T) []*fx {
	testKeys()
	now := time.Now().Unix()
	rs := signer{kid: "rsa-1", key: rsaKey}
	rsRogue := signer{kid: "rsa-1", key: rsaKey2}
	es := signer{kid: "ec-1", key: ecKey}
	esRogue := signer{kid: "ec-1", key: ecKey2}
	base := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"iat": now - 5, "nbf": now - 5, "exp": now + 300}
		maps.Copy(c, extra)
		return c
	}
	var out []*fx

	ks := newKeyServer(t, true, rs)
	out = append(out, &fx{name: providerCloudflare, ks: ks, good: rs, rogue: rsRogue, header: "Cf-Access-Jwt-Assertion",
		h: &Handler{Provider: providerCloudflare, Team: "acme", Audience: []string{"aud-tag-1"},
			JWKSURL: ks.URL() + "/cdn-cgi/access/certs", tlsRoots: ks.pool()},
		claims: base(jwt.MapClaims{"iss": "https://acme.cloudflareaccess.com", "aud": []string{"aud-tag-1"},
			"email": "ada@example.com", "sub": "7335d417-61da-459d-899c-0a01c76a2f94", "type": "app"}),
		user: "ada@example.com"})

	ks = newKeyServer(t, true, es)
	out = append(out, &fx{name: providerIAP, ks: ks, good: es, rogue: esRogue, header: "x-goog-iap-jwt-assertion",
		h: &Handler{Provider: providerIAP, Audience: []string{"/projects/42/global/backendServices/7"},
			JWKSURL: ks.URL() + "/iap/verify/public_key-jwk", tlsRoots: ks.pool()},
		claims: base(jwt.MapClaims{"iss": "https://cloud.google.com/iap", "aud": "/projects/42/global/backendServices/7",
			"sub": "accounts.google.com:1234567890", "email": "grace@example.com", "hd": "example.com"}),
		user: "accounts.google.com:1234567890"})

	ks = newKeyServer(t, true, es)
	out = append(out, &fx{name: providerALB, ks: ks, good: es, rogue: esRogue, header: "x-amzn-oidc-data", alb: true,
		h: &Handler{Provider: providerALB, Region: "us-east-1", Signer: []string{albARN},
			Issuer: "https://idp.example.com", JWKSURL: ks.URL() + "/alb", tlsRoots: ks.pool()},
		claims: base(jwt.MapClaims{"iss": "https://idp.example.com", "sub": "b7c1a2", "email": "linus@example.com",
			"email_verified": "true"}),
		user: "b7c1a2"})

	ks = newKeyServer(t, true, es)
	host := mustURL(ks.URL()).Host // the route's own host; keys at its /.well-known/pomerium/jwks.json
	out = append(out, &fx{name: providerPomerium, ks: ks, good: es, rogue: esRogue, header: "X-Pomerium-Jwt-Assertion",
		h: &Handler{Provider: providerPomerium, Audience: []string{host}, tlsRoots: ks.pool()},
		claims: base(jwt.MapClaims{"iss": host, "aud": host, "sub": "pom-user-9", "email": "barbara@example.com",
			"groups": []string{"eng"}}),
		user: "pom-user-9"})

	ks = newKeyServer(t, true, rs)
	out = append(out, &fx{name: providerOIDC, ks: ks, good: rs, rogue: rsRogue, header: "Authorization", bearer: true,
		h: &Handler{Provider: providerOIDC, Issuer: ks.URL(), Audience: []string{"my-client"}, tlsRoots: ks.pool()},
		claims: base(jwt.MapClaims{"iss": ks.URL(), "aud": "my-client", "sub": "kc-user-3", "email": "edsger@example.com",
			"email_verified": true, "auth_time": now - 60}),
		user: "kc-user-3"})

	ks = newKeyServer(t, false, rs) // loopback http
	out = append(out, &fx{name: providerJWT, ks: ks, good: rs, rogue: rsRogue, header: "X-Auth-Token",
		h: &Handler{Provider: providerJWT, Header: "X-Auth-Token", Issuer: "https://auth.internal", Audience: []string{"app"},
			JWKSURL: ks.URL() + "/jwks", UserClaim: "preferred_username"},
		claims: base(jwt.MapClaims{"iss": "https://auth.internal", "aud": "app", "sub": "u-1",
			"preferred_username": "barbara", "email": "barbara@example.com"}),
		user: "barbara"})
	return out
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// with returns the valid claims changed by edit (nil values delete).
func (f *fx) with(edit jwt.MapClaims) jwt.MapClaims {
	c := maps.Clone(f.claims)
	for k, v := range edit {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// token signs claims with s the way the provider does.
func (f *fx) token(s signer, c jwt.MapClaims, header map[string]any) string {
	if !f.alb {
		return s.sign(c, header)
	}
	c, h := f.albSplit(c, header)
	return s.signALB(c, h)
}

// albSplit moves exp and iss to the header, where ALB puts them, and names
// the load balancer.
func (f *fx) albSplit(c jwt.MapClaims, header map[string]any) (jwt.MapClaims, map[string]any) {
	c = maps.Clone(c)
	h := map[string]any{"signer": albARN, "client": "client-1"}
	for _, k := range []string{"exp", "iss"} {
		if v, ok := c[k]; ok {
			h[k] = v
			delete(c, k)
		}
	}
	maps.Copy(h, header)
	return c, h
}

// forge signs claims with an arbitrary method and key (alg none, HS256).
func (f *fx) forge(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	h := map[string]any{"kid": f.good.kid}
	if f.alb {
		c, h = f.albSplit(c, h)
	}
	t := jwt.NewWithClaims(m, c)
	maps.Copy(t.Header, h)
	raw, err := t.SignedString(key)
	if err != nil {
		panic(err)
	}
	return raw
}

func (f *fx) request(tok string) map[string]string {
	if f.bearer {
		return map[string]string{"Authorization": "Bearer " + tok}
	}
	return map[string]string{f.header: tok}
}
