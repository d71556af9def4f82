// Package identityassertion is the http.handlers.identity_assertion module:
// it honours an identity that a proxy in front of Caddy asserts (Cloudflare
// Access, Google IAP, AWS ALB, Pomerium, any OIDC issuer) only when the
// assertion's signature checks out with the provider's published keys, and
// publishes it in the placeholders Caddy's own authentication uses
// ({http.auth.user.id}, {http.auth.user.<claim>}).
package identityassertion

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler verifies a signed identity assertion on each request. It is shared
// by every request of its route: everything per request lives on the stack.
type Handler struct {
	// Provider selects the assertion format and its defaults: cloudflare_access,
	// google_iap, aws_alb, pomerium, oidc or jwt.
	Provider string `json:"provider"`
	// Header carries the assertion; "Authorization" means a Bearer token.
	Header string `json:"header,omitempty"`
	// JWKSURL is where the keys are (for aws_alb: the base URL to which
	// "/<kid>" is appended). Derived from the provider when omitted.
	JWKSURL string `json:"jwks_url,omitempty"`
	// Team is the Cloudflare Zero Trust team name.
	Team string `json:"team,omitempty"`
	// Issuer is the exact iss an assertion must carry (oidc: also where
	// discovery starts).
	Issuer string `json:"issuer,omitempty"`
	// Audience lists the accepted aud values; any one must match.
	Audience []string `json:"audience,omitempty"`
	// Region is the AWS region of the load balancer (aws_alb).
	Region string `json:"region,omitempty"`
	// Signer lists the load balancer ARNs whose assertions are accepted (aws_alb).
	Signer []string `json:"signer,omitempty"`
	// UserClaim names the claim that becomes {http.auth.user.id}.
	UserClaim string `json:"user_claim,omitempty"`
	// Algorithms lists the accepted alg values (public-key algorithms only).
	Algorithms []string `json:"algorithms,omitempty"`
	// Leeway is the clock skew allowed on exp, nbf and iat (default 30s).
	Leeway caddy.Duration `json:"leeway,omitempty"`
	// Require answers 401 when the assertion is absent or invalid, instead of
	// letting the request go on anonymous.
	Require bool `json:"require,omitempty"`

	v       *verifier
	logger  *zap.Logger
	metrics *metrics
	cancel  context.CancelFunc

	// Test hooks: a CA pool for TLS key servers, and shorter intervals.
	tlsRoots *x509.CertPool
	timing   *timing
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.identity_assertion",
		New: func() caddy.Module { return new(Handler) },
	}
}

const defaultLeeway = 30 * time.Second

// applyDefaults fills what the provider fixes. It never overrides what the
// config set.
func (h *Handler) applyDefaults() {
	d, ok := providers[h.Provider]
	if !ok {
		return
	}
	if h.Header == "" {
		h.Header = d.header
	}
	if h.UserClaim == "" {
		h.UserClaim = d.userClaim
	}
	if len(h.Algorithms) == 0 {
		h.Algorithms = slices.Clone(d.algorithms)
	}
	if h.Leeway == 0 {
		h.Leeway = caddy.Duration(defaultLeeway)
	}
	switch h.Provider {
	case providerCloudflare:
		if h.Team != "" && h.JWKSURL == "" {
			h.JWKSURL = "https://" + h.Team + ".cloudflareaccess.com/cdn-cgi/access/certs"
		}
		if h.Team != "" && h.Issuer == "" {
			h.Issuer = "https://" + h.Team + ".cloudflareaccess.com"
		}
	case providerIAP:
		if h.JWKSURL == "" {
			h.JWKSURL = "https://www.gstatic.com/iap/verify/public_key-jwk"
		}
		if h.Issuer == "" {
			h.Issuer = "https://cloud.google.com/iap"
		}
	case providerALB:
		if h.Region != "" && h.JWKSURL == "" {
			h.JWKSURL = "https://public-keys.auth.elb." + h.Region + ".amazonaws.com"
		}
	case providerPomerium:
		// The route's own host is the configured audience, never the
		// request's Host header: a client chooses that one, and keys
		// fetched from a host of the client's choosing prove nothing.
		if len(h.Audience) > 0 && h.JWKSURL == "" {
			h.JWKSURL = "https://" + h.Audience[0] + "/.well-known/pomerium/jwks.json"
		}
		if len(h.Audience) > 0 && h.Issuer == "" {
			h.Issuer = h.Audience[0]
		}
	}
}

// checkConfig reports the first config error, naming its sub-directive. It
// expects applyDefaults to have run.
func (h *Handler) checkConfig() error {
	d, ok := providers[h.Provider]
	if !ok {
		if h.Provider == "" {
			return fmt.Errorf("provider: required (one of %s)", strings.Join(providerNames, ", "))
		}
		return fmt.Errorf("provider: unknown provider %q (want one of %s)", h.Provider, strings.Join(providerNames, ", "))
	}
	for _, need := range d.needs {
		missing := false
		switch need {
		case "team":
			missing = h.Team == ""
		case "audience":
			missing = len(h.Audience) == 0
		case "issuer":
			missing = h.Issuer == ""
		case "region":
			missing = h.Region == ""
		case "signer":
			missing = len(h.Signer) == 0
		case "jwks_url":
			missing = h.JWKSURL == ""
		}
		if missing {
			return fmt.Errorf("%s: required for provider %s", need, h.Provider)
		}
	}
	if h.Team != "" && !teamPattern.MatchString(h.Team) {
		return fmt.Errorf("team: %q is not a Cloudflare team name (the <team> of <team>.cloudflareaccess.com)", h.Team)
	}
	if h.Region != "" && !regionPattern.MatchString(h.Region) {
		return fmt.Errorf("region: %q is not an AWS region name like us-east-1", h.Region)
	}
	for _, a := range h.Audience {
		if a == "" {
			return errors.New("audience: empty value")
		}
	}
	for _, alg := range h.Algorithms {
		if err := checkAlgorithm(alg); err != nil {
			return err
		}
	}
	if h.JWKSURL != "" {
		if err := checkKeyURL("jwks_url", h.JWKSURL); err != nil {
			return err
		}
	}
	if h.Provider == providerOIDC && h.JWKSURL == "" {
		if err := checkKeyURL("issuer", h.Issuer); err != nil {
			return err
		}
	}
	if h.Header == "" || strings.ContainsAny(h.Header, " \t:") {
		return fmt.Errorf("header: %q is not a header name", h.Header)
	}
	if h.UserClaim == "" {
		return errors.New("user_claim: empty")
	}
	if h.Leeway < 0 || time.Duration(h.Leeway) > 5*time.Minute {
		return fmt.Errorf("leeway: %s is outside 0–5m", time.Duration(h.Leeway))
	}
	return nil
}

// Provision applies the provider's defaults, checks the config and starts
// fetching keys. It waits briefly for the first key fetch but never fails
// because keys are unreachable: Caddy starts, requests stay anonymous (or
// get 401 with require) until the keys arrive.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.applyDefaults()
	if err := h.checkConfig(); err != nil {
		return fmt.Errorf("identity_assertion: %w", err)
	}
	m, err := registerMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	h.metrics = m
	t := defaultTiming
	if h.timing != nil {
		t = *h.timing
	}
	bg, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	client := newKeyClient(h.tlsRoots, t.fetchTimeout)
	var src keySource
	if h.Provider == providerALB {
		src = newALBSource(h.JWKSURL, client, t, h.logger)
	} else {
		src = newJWKSSource(h.JWKSURL, h.Issuer, h.Provider == providerOIDC && h.JWKSURL == "", client, t, h.logger)
	}
	h.v = newVerifier(h, src)
	src.start(bg)
	if !src.waitReady(ctx, t.startWait) && h.Provider != providerALB {
		h.logger.Warn("identity_assertion: keys not available yet; requests stay anonymous until they arrive",
			zap.String("provider", h.Provider), zap.String("keys", h.JWKSURL))
	}
	return nil
}

// Validate re-checks the config; Provision has applied the defaults.
func (h *Handler) Validate() error {
	if err := h.checkConfig(); err != nil {
		return fmt.Errorf("identity_assertion: %w", err)
	}
	return nil
}

// Cleanup stops the background key refresh of this config.
func (h *Handler) Cleanup() error {
	if h.cancel != nil {
		h.cancel()
	}
	return nil
}

// ServeHTTP verifies the request's assertion and, when it is valid,
// publishes the identity as {http.auth.user.*} placeholders.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	raw, res := h.assertion(r)
	var claims jwt.MapClaims
	var userID string
	var err error
	if res == "" {
		claims, userID, res, err = h.v.verify(r.Context(), raw)
	}
	h.metrics.count(res)
	if res == resultValid {
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		if repl != nil {
			publish(repl, claims, userID)
		}
	} else if res != resultAbsent {
		if c := h.logger.Check(zap.DebugLevel, "identity assertion rejected"); c != nil {
			c.Write(zap.String("result", res), zap.String("reason", reason(err)), zap.String("header", h.Header))
		}
	}
	if h.Require && res != resultValid {
		return caddyhttp.Error(http.StatusUnauthorized, fmt.Errorf("identity assertion: %s", res))
	}
	return next.ServeHTTP(w, r)
}

// maxAssertion bounds the work an oversized header can cause.
const maxAssertion = 16 << 10

// assertion returns the raw token, or a result when there is none to verify.
func (h *Handler) assertion(r *http.Request) (string, string) {
	vals := r.Header.Values(h.Header)
	if len(vals) == 0 {
		return "", resultAbsent
	}
	if len(vals) > 1 {
		// Two field lines: one of them did not come from the proxy.
		return "", resultMalformed
	}
	v := strings.TrimSpace(vals[0])
	if strings.EqualFold(h.Header, "Authorization") {
		const bearer = "bearer "
		if len(v) < len(bearer) || !strings.EqualFold(v[:len(bearer)], bearer) {
			return "", resultAbsent // Basic or another scheme: not ours
		}
		v = strings.TrimSpace(v[len(bearer):])
	}
	if v == "" {
		return "", resultAbsent
	}
	if len(v) > maxAssertion {
		return "", resultMalformed
	}
	return v, ""
}

// reason is a log-safe description of why an assertion failed: the jwt and
// key errors never contain the token, and it is cut short anyway.
func reason(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
