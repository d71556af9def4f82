package identityassertion

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Provider names accepted by the provider sub-directive.
const (
	providerCloudflare = "cloudflare_access"
	providerIAP        = "google_iap"
	providerALB        = "aws_alb"
	providerPomerium   = "pomerium"
	providerOIDC       = "oidc"
	providerJWT        = "jwt"
)

// providerDefaults is what a provider fixes unless the config overrides it.
// The sources for each value are listed in the README ("What the provider
// defaults rely on").
type providerDefaults struct {
	header     string
	userClaim  string
	algorithms []string
	// needs lists the sub-directives the provider cannot do without.
	needs []string
}

var providers = map[string]providerDefaults{
	// developers.cloudflare.com: "Validate JWTs" (Cf-Access-Jwt-Assertion,
	// https://<team>.cloudflareaccess.com/cdn-cgi/access/certs, RS256 keys).
	providerCloudflare: {header: "Cf-Access-Jwt-Assertion", userClaim: "email", algorithms: []string{"RS256"}, needs: []string{"team", "audience"}},
	// cloud.google.com/iap/docs/signed-headers-howto (ES256, iss
	// https://cloud.google.com/iap, aud /projects/…).
	providerIAP: {header: "X-Goog-Iap-Jwt-Assertion", userClaim: "sub", algorithms: []string{"ES256"}, needs: []string{"audience"}},
	// docs.aws.amazon.com …/listener-authenticate-users.html#user-claims-encoding
	// (x-amzn-oidc-data, ES256, one PEM per kid, padded segments).
	providerALB: {header: "X-Amzn-Oidc-Data", userClaim: "sub", algorithms: []string{"ES256"}, needs: []string{"region", "signer"}},
	// pomerium.com/docs/capabilities/getting-users-identity (X-Pomerium-Jwt-Assertion,
	// /.well-known/pomerium/jwks.json, aud and iss are the route's domain).
	providerPomerium: {header: "X-Pomerium-Jwt-Assertion", userClaim: "sub", algorithms: []string{"ES256"}, needs: []string{"audience"}},
	// OpenID Connect Discovery 1.0: <issuer>/.well-known/openid-configuration.
	providerOIDC: {header: "Authorization", userClaim: "sub", algorithms: []string{"RS256"}, needs: []string{"issuer", "audience"}},
	providerJWT:  {header: "Authorization", userClaim: "sub", algorithms: []string{"RS256"}, needs: []string{"jwks_url", "issuer", "audience"}},
}

// providerNames is the provider list in the order the docs give it.
var providerNames = []string{providerCloudflare, providerIAP, providerALB, providerPomerium, providerOIDC, providerJWT}

// publicKeyAlgorithms are the only algorithms an assertion may use: all of
// them verify with a public key, so a token signed with HMAC over a public
// key (the key-confusion attack) or with alg "none" can never verify.
var publicKeyAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

var (
	teamPattern   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// checkAlgorithm explains why alg may not be configured, or returns nil.
func checkAlgorithm(alg string) error {
	if slices.Contains(publicKeyAlgorithms, alg) {
		return nil
	}
	if strings.HasPrefix(strings.ToUpper(alg), "HS") {
		return fmt.Errorf("algorithms: %q is a shared-secret (HMAC) algorithm; assertions are verified with the provider's public keys only", alg)
	}
	return fmt.Errorf("algorithms: unknown algorithm %q (want %s)", alg, strings.Join(publicKeyAlgorithms, ", "))
}

// checkKeyURL accepts https URLs, and http URLs only for loopback hosts
// (local key servers in tests and development).
func checkKeyURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s: %q is not an absolute URL", field, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("%s: %q must be an https:// URL (http:// is allowed only for loopback hosts)", field, raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
