package caddymodule

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/injector/keys"
	"github.com/caddy-intercom/caddy-intercom/injector/tokencheck"
)

// regionAliases are region names other tools use for one of ours: the
// official Messenger SDK calls the Australian region "ap".
var regionAliases = map[string]string{"ap": "au"}

// regionAPIBase returns the api_base of a region name ("" means us).
func regionAPIBase(region string) (string, bool) {
	if region == "" {
		region = "us"
	}
	if alias, ok := regionAliases[region]; ok {
		region = alias
	}
	base, ok := apiBases[region]
	return base, ok
}

// errUnknownRegion is the refusal of a region name.
func errUnknownRegion(region string) error {
	return fmt.Errorf("region: unknown region %q (want us, eu or au; ap is accepted as au)", region)
}

// Lifetimes above which Provision warns. A token lives as long as its exp
// says however it leaks (a page in a shared cache, a screenshot, a log).
const (
	// The Messenger's own session cookie lasts 7 days, and `caddy intercom
	// verify` warns above the same bound: a longer token gains nothing.
	maxIntercomTTL = tokencheck.DefaultMaxLifetime
	// Salesforce documents no maximum identity-token lifetime, but its
	// session (authorization) token lasts 60 minutes by default, its own
	// example signs for 100 minutes, and the identity token is sent again on
	// every page: a day is already far more than it needs.
	maxSalesforceTTL = 24 * time.Hour
)

// Provision resolves secrets and keys once, parses trust ranges and builds
// the signers. It first runs the same checks as Validate, so that nothing is
// built from a configuration Validate would refuse. Every error names its
// sub-directive and the handler's app_id (Caddy does not tell a handler
// which site it serves).
func (h *Intercom) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	tm, err := registerTrustMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	if err := h.checkConfig(); err != nil {
		return h.configError(err)
	}
	if err := h.provision(); err != nil {
		return h.configError(err)
	}
	if err := h.provisionRequestPath(ctx); err != nil {
		return err
	}
	h.identity.report = newForgeryReport(h.logger, tm, h.AppID)
	h.warnings()
	h.logger.Info("intercom identification enabled",
		zap.String("app_id", h.AppID),
		zap.String("api_base", h.apiBase),
		zap.Strings("identity_headers", h.identity.headers),
		zap.Bool("salesforce", h.salesforce != nil),
		zap.String("endpoint", h.Endpoint))
	return nil
}

// configError names the handler an error belongs to: a Caddyfile may hold
// several intercom handlers, and Caddy's error chain names only "srv0".
func (h *Intercom) configError(err error) error {
	if h.AppID == "" {
		return err
	}
	return fmt.Errorf("intercom handler for app_id %s: %w", h.AppID, err)
}

// provision resolves what the checked configuration names and builds the
// signers.
func (h *Intercom) provision() error {
	var err error
	if h.APIBase != "" {
		h.apiBase = strings.TrimRight(h.APIBase, "/")
	} else {
		h.apiBase, _ = regionAPIBase(h.Region)
	}

	h.attrNames = make([]string, 0, len(h.Attributes))
	for name := range h.Attributes {
		h.attrNames = append(h.attrNames, name)
	}
	slices.Sort(h.attrNames)

	if h.identity, err = newIdentitySource(h.Trust, h.identityValues()); err != nil {
		return err
	}

	repl := caddy.NewReplacer()
	secret := repl.ReplaceAll(h.Secret, "")
	if secret == "" {
		return fmt.Errorf("secret: resolves to an empty value: %s", whyEmpty(h.Secret))
	}
	signer, err := injector.NewIntercomSigner(injector.IntercomConfig{
		Secret: []byte(secret),
		TTL:    time.Duration(h.TTL),
	})
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	h.intercom = signer
	h.marker = injector.NewSessionMarker([]byte(secret))

	if h.Salesforce != nil {
		if h.salesforce, err = h.Salesforce.provision(repl); err != nil {
			return fmt.Errorf("salesforce: %w", err)
		}
		if h.jwksDoc, err = h.Salesforce.provisionJWKS(repl, h.salesforce); err != nil {
			return fmt.Errorf("salesforce: %w", err)
		}
		if h.Salesforce.Reuse > 0 {
			h.sfCache = injector.NewTokenCache(time.Duration(h.Salesforce.Reuse), h.Salesforce.CacheSize, nil)
		}
	}
	return nil
}

// warnings logs what is allowed but risky, once per config load.
func (h *Intercom) warnings() {
	if !strings.Contains(h.UserID, "{") {
		h.logger.Warn("user_id is a constant: every visitor will be identified as the same user")
	}
	if ttl := time.Duration(h.TTL); ttl > maxIntercomTTL {
		h.logger.Warn("ttl: the Intercom token lives longer than 7 days, the Messenger session's own lifetime; "+
			"a leaked token stays valid that long (the default is 1h)",
			zap.Duration("ttl", ttl), zap.String("app_id", h.AppID))
	}
	if h.Salesforce != nil {
		if ttl := time.Duration(h.Salesforce.TTL); ttl > maxSalesforceTTL {
			h.logger.Warn("salesforce ttl: the identity token lives longer than a day; Salesforce documents no "+
				"maximum, its session token lasts 60 minutes by default and the page sends a fresh identity token "+
				"on every load, so a long one only stays replayable if it leaks (the default is 1h)",
				zap.Duration("ttl", ttl), zap.String("app_id", h.AppID))
		}
	}
	if h.identity.private {
		h.logger.Warn("trust private_ranges: any client that reaches Caddy through a relay or load balancer in a "+
			"private range (a container proxy, a Kubernetes SNAT, a cloud load balancer) can assert any identity in "+
			"the identity headers; prefer the exact addresses of your proxies, or verified identity "+
			"(identity_assertion, {http.auth.user.*})",
			zap.Strings("identity_headers", h.identity.headers), zap.String("app_id", h.AppID))
	}
}

// identityValues lists the values that say who the user is, by sub-directive.
func (h *Intercom) identityValues() []identityValue {
	values := []identityValue{{"user_id", h.UserID}, {"email", h.Email}, {"name", h.Name}}
	names := make([]string, 0, len(h.Attributes))
	for name := range h.Attributes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		values = append(values, identityValue{"attribute " + name, h.Attributes[name]})
	}
	if h.Salesforce != nil {
		values = append(values, identityValue{"salesforce subject", h.Salesforce.Subject})
	}
	return values
}

// whyEmpty says why a {env.…} or {file.…} value resolved to nothing, naming
// the variable or file, never a value.
func whyEmpty(value string) string {
	for _, key := range placeholderKeys(value) {
		if name, ok := strings.CutPrefix(key, "env."); ok && os.Getenv(name) == "" {
			return fmt.Sprintf("the environment variable %s is unset or empty", name)
		}
		if path, ok := strings.CutPrefix(key, "file."); ok {
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Sprintf("cannot read the file: %v", err)
			}
			if len(strings.TrimSpace(string(data))) == 0 {
				return fmt.Sprintf("the file %s is empty", path)
			}
		}
	}
	return "check the file or environment variable it names"
}

func (s *Salesforce) provision(repl *caddy.Replacer) (*injector.SalesforceSigner, error) {
	pemText := repl.ReplaceAll(s.PrivateKey, "")
	if pemText == "" {
		return nil, fmt.Errorf("private_key: resolves to an empty value: %s", whyEmpty(s.PrivateKey))
	}
	signer, err := injector.NewSalesforceSigner(injector.SalesforceConfig{
		PrivateKeyPEM: []byte(pemText),
		KeyID:         s.KeyID,
		Issuer:        s.Issuer,
		Audience:      s.Audience,
		Algorithm:     s.Algorithm,
		TTL:           time.Duration(s.TTL),
	})
	if err != nil {
		return nil, fmt.Errorf("private_key: %w", err)
	}
	return signer, nil
}

// provisionJWKS checks the certificates against the signing key and builds
// the JWKS document once.
func (s *Salesforce) provisionJWKS(repl *caddy.Replacer, signer *injector.SalesforceSigner) ([]byte, error) {
	if s.Certificate == "" {
		return nil, nil
	}
	alg := s.Algorithm
	if alg == "" {
		alg = "RS256"
	}
	cert, err := parseCertificate(repl, s.Certificate)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if !keys.CertificateMatchesKey(cert, signer.PublicKey()) {
		return nil, errors.New("certificate: does not belong to private_key (its public key differs)")
	}
	current, err := keys.JWKFromCertificate(cert, s.KeyID, alg)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	jwks := []keys.JWK{current}
	for i, prev := range s.PreviousCertificates {
		kid, err := prev.keyID(i)
		if err != nil {
			return nil, err
		}
		pc, err := parseCertificate(repl, prev.Certificate)
		if err != nil {
			return nil, fmt.Errorf("previous_certificate %s: %w", kid, err)
		}
		jwk, err := keys.JWKFromCertificate(pc, kid, alg)
		if err != nil {
			return nil, fmt.Errorf("previous_certificate %s: %w", kid, err)
		}
		jwks = append(jwks, jwk)
	}
	doc, err := keys.JWKSDocument(jwks...)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return doc, nil
}

func parseCertificate(repl *caddy.Replacer, value string) (*x509.Certificate, error) {
	text := repl.ReplaceAll(value, "")
	if text == "" {
		return nil, fmt.Errorf("resolves to an empty value: %s", whyEmpty(value))
	}
	certs, err := keys.ParseCertificatesPEM([]byte(text))
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// keyID is the certificate's kid, given or derived from a {file.…} path as
// `caddy intercom keygen` names files (KID.cert.pem).
func (p PreviousCertificate) keyID(i int) (string, error) {
	if p.KeyID != "" {
		return p.KeyID, nil
	}
	path, ok := strings.CutPrefix(p.Certificate, "{file.")
	if !ok || !strings.HasSuffix(path, "}") {
		return "", fmt.Errorf("previous_certificate %d: give its key id (kid) as a second argument", i+1)
	}
	return keys.KeyIDFromPath(strings.TrimSuffix(path, "}")), nil
}

// Validate checks the configuration as written: everything that can be
// judged without reading a secret, a key or the environment (Provision
// resolves those and reports what it finds). It also refuses a handler that
// was not provisioned, which would serve pages without signers.
func (h *Intercom) Validate() error {
	if err := h.checkConfig(); err != nil {
		return h.configError(err)
	}
	if h.intercom == nil {
		return h.configError(errors.New("not provisioned"))
	}
	if h.Salesforce != nil && h.salesforce == nil {
		return h.configError(errors.New("salesforce: not provisioned"))
	}
	return nil
}

// checkConfig is the static check of the configuration, shared by Provision
// (before it builds anything) and Validate. The Caddyfile parser runs the
// same per-value checks with file and line.
func (h *Intercom) checkConfig() error {
	if h.AppID == "" {
		return errors.New("app_id: required (the Intercom workspace ID)")
	}
	if err := checkAppID(h.AppID); err != nil {
		return err
	}
	if h.UserID == "" {
		return errors.New("user_id: required (usually a placeholder such as {http.auth.user.id})")
	}
	if h.Secret == "" {
		return errors.New("secret: required (the Messenger API secret, e.g. {env.INTERCOM_SECRET} or {file.path})")
	}
	if h.APIBase != "" {
		if err := checkAPIBase(h.APIBase); err != nil {
			return err
		}
	} else if _, ok := regionAPIBase(h.Region); !ok {
		return errUnknownRegion(h.Region)
	}
	if h.TTL < 0 {
		return fmt.Errorf("ttl: must be positive, got %s", time.Duration(h.TTL))
	}
	for name := range h.Attributes {
		if err := injector.ValidateAttributeName(name); err != nil {
			return fmt.Errorf("attribute %s: %w", name, err)
		}
	}
	if err := checkPath("endpoint", h.Endpoint); err != nil {
		return err
	}
	if _, err := newIdentitySource(h.Trust, h.identityValues()); err != nil {
		return err
	}
	if h.Salesforce != nil {
		if err := h.Salesforce.check(); err != nil {
			return fmt.Errorf("salesforce: %w", err)
		}
		if h.Endpoint != "" && h.Endpoint == h.Salesforce.JWKS {
			return fmt.Errorf("salesforce: jwks: %q is also the token endpoint", h.Endpoint)
		}
	}
	return nil
}

// check is the static check of the salesforce block.
func (s *Salesforce) check() error {
	if s.KeyID == "" {
		return errors.New("key_id: required (the kid of the key in the Salesforce keyset)")
	}
	if s.Issuer == "" {
		return errors.New("issuer: required (the issuer configured on the Salesforce keyset)")
	}
	if s.PrivateKey == "" {
		return errors.New("private_key: required (an RSA private key as PEM, e.g. {file.path})")
	}
	if err := checkAlgorithm(s.Algorithm); err != nil {
		return err
	}
	if s.TTL < 0 {
		return fmt.Errorf("ttl: must be positive, got %s", time.Duration(s.TTL))
	}
	if err := checkReuse(s.Reuse, s.TTL); err != nil {
		return err
	}
	if s.CacheSize < 0 {
		return fmt.Errorf("cache_size: must be positive, got %d", s.CacheSize)
	}
	if err := checkPath("jwks", s.JWKS); err != nil {
		return err
	}
	if s.Certificate == "" && (s.JWKS != "" || len(s.PreviousCertificates) > 0) {
		return errors.New("certificate: required to publish a JWKS (the public certificate of private_key)")
	}
	for i, prev := range s.PreviousCertificates {
		if prev.Certificate == "" {
			return fmt.Errorf("previous_certificate %d: empty", i+1)
		}
		if _, err := prev.keyID(i); err != nil {
			return err
		}
	}
	return nil
}

// Per-value checks, shared by the Caddyfile parser (which adds file:line)
// and checkConfig.

// checkAppID: the app_id is used as written (no placeholders are resolved
// in it): it ends up in a cookie name and a script URL.
func checkAppID(v string) error {
	if !appIDPattern.MatchString(v) {
		return fmt.Errorf("app_id: %q is not an Intercom workspace ID (letters, digits, - and _)", v)
	}
	return nil
}

func checkAPIBase(v string) error {
	if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
		return fmt.Errorf("api_base: %q is not an http(s) URL", v)
	}
	return nil
}

func checkPath(sub, v string) error {
	if v != "" && !strings.HasPrefix(v, "/") {
		return fmt.Errorf("%s: %q must be a path starting with /", sub, v)
	}
	return nil
}

func checkAlgorithm(v string) error {
	if _, ok := injector.SalesforceAlgorithm(v); v == "" || ok {
		return nil
	}
	return fmt.Errorf("algorithm: %q is not supported (want RS256 or RS512)", v)
}

func checkReuse(reuse, ttl caddy.Duration) error {
	t := time.Duration(ttl)
	if t == 0 {
		t = injector.DefaultTTL
	}
	if reuse < 0 || time.Duration(reuse) >= t {
		return fmt.Errorf("reuse: %s must be shorter than the token ttl %s, so that a reused token still has time left", time.Duration(reuse), t)
	}
	return nil
}
