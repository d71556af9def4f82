package caddymodule

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/injector/keys"
)

// Provision resolves secrets and keys once, parses trust ranges and builds
// the signers. Every configuration error names its sub-directive.
func (h *Intercom) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	var err error
	if h.metrics, err = registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}

	if h.AppID == "" {
		return errors.New("app_id: required (the Intercom workspace ID)")
	}
	if !appIDPattern.MatchString(h.AppID) {
		return fmt.Errorf("app_id: %q is not an Intercom workspace ID (letters, digits, - and _)", h.AppID)
	}
	if h.UserID == "" {
		return errors.New("user_id: required (usually a placeholder such as {http.auth.user.id})")
	}
	if h.Secret == "" {
		return errors.New("secret: required (the Messenger API secret, e.g. {env.INTERCOM_SECRET} or {file.path})")
	}

	switch {
	case h.APIBase != "":
		if !strings.HasPrefix(h.APIBase, "https://") && !strings.HasPrefix(h.APIBase, "http://") {
			return fmt.Errorf("api_base: %q is not an http(s) URL", h.APIBase)
		}
		h.apiBase = strings.TrimRight(h.APIBase, "/")
	default:
		region := h.Region
		if region == "" {
			region = "us"
		}
		base, ok := apiBases[region]
		if !ok {
			return fmt.Errorf("region: unknown region %q (want us, eu or au)", h.Region)
		}
		h.apiBase = base
	}

	if h.TTL < 0 {
		return fmt.Errorf("ttl: must be positive, got %s", time.Duration(h.TTL))
	}

	h.attrNames = make([]string, 0, len(h.Attributes))
	for name := range h.Attributes {
		if err := injector.ValidateAttributeName(name); err != nil {
			return fmt.Errorf("attribute %s: %w", name, err)
		}
		h.attrNames = append(h.attrNames, name)
	}
	slices.Sort(h.attrNames)

	repl := caddy.NewReplacer()
	secret := repl.ReplaceAll(h.Secret, "")
	if secret == "" {
		return errors.New("secret: resolves to an empty value (check the environment variable or file it names)")
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

	if h.Endpoint != "" && !strings.HasPrefix(h.Endpoint, "/") {
		return fmt.Errorf("endpoint: %q must be a path starting with /", h.Endpoint)
	}

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

	values := []string{h.UserID, h.Email, h.Name}
	for _, name := range h.attrNames {
		values = append(values, h.Attributes[name])
	}
	if h.Salesforce != nil {
		values = append(values, h.Salesforce.Subject)
	}
	h.identity, err = newIdentitySource(h.Trust, values)
	if err != nil {
		return err
	}
	if !strings.Contains(h.UserID, "{") {
		h.logger.Warn("user_id is a constant: every visitor will be identified as the same user")
	}
	h.logger.Info("intercom identification enabled",
		zap.String("app_id", h.AppID),
		zap.String("api_base", h.apiBase),
		zap.Strings("identity_headers", h.identity.headers),
		zap.Bool("salesforce", h.salesforce != nil),
		zap.String("endpoint", h.Endpoint))
	return nil
}

func (s *Salesforce) provision(repl *caddy.Replacer) (*injector.SalesforceSigner, error) {
	if s.KeyID == "" {
		return nil, errors.New("key_id: required (the kid of the key in the Salesforce keyset)")
	}
	if s.Issuer == "" {
		return nil, errors.New("issuer: required (the issuer configured on the Salesforce keyset)")
	}
	if s.PrivateKey == "" {
		return nil, errors.New("private_key: required (an RSA private key as PEM, e.g. {file.path})")
	}
	switch s.Algorithm {
	case "", "RS256", "RS512":
	default:
		return nil, fmt.Errorf("algorithm: %q is not supported (want RS256 or RS512)", s.Algorithm)
	}
	if s.TTL < 0 {
		return nil, fmt.Errorf("ttl: must be positive, got %s", time.Duration(s.TTL))
	}
	ttl := time.Duration(s.TTL)
	if ttl == 0 {
		ttl = injector.DefaultTTL
	}
	if s.Reuse < 0 || time.Duration(s.Reuse) >= ttl {
		return nil, fmt.Errorf("reuse: %s must be shorter than the token ttl %s, so that a reused token still has time left", time.Duration(s.Reuse), ttl)
	}
	if s.CacheSize < 0 {
		return nil, fmt.Errorf("cache_size: must be positive, got %d", s.CacheSize)
	}
	pemText := repl.ReplaceAll(s.PrivateKey, "")
	if pemText == "" {
		return nil, errors.New("private_key: resolves to an empty value (check the file or environment variable it names)")
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
	if s.JWKS != "" && !strings.HasPrefix(s.JWKS, "/") {
		return nil, fmt.Errorf("jwks: %q must be a path starting with /", s.JWKS)
	}
	if s.Certificate == "" {
		if s.JWKS != "" || len(s.PreviousCertificates) > 0 {
			return nil, errors.New("certificate: required to publish a JWKS (the public certificate of private_key)")
		}
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
		kid := prev.KeyID
		if kid == "" {
			path, ok := strings.CutPrefix(prev.Certificate, "{file.")
			if !ok || !strings.HasSuffix(path, "}") {
				return nil, fmt.Errorf("previous_certificate %d: give its key id (kid) as a second argument", i+1)
			}
			kid = keys.KeyIDFromPath(strings.TrimSuffix(path, "}"))
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
		return nil, errors.New("resolves to an empty value (check the file it names)")
	}
	certs, err := keys.ParseCertificatesPEM([]byte(text))
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// Validate reports configuration that Provision accepted but that cannot work.
func (h *Intercom) Validate() error {
	if h.intercom == nil {
		return errors.New("intercom: not provisioned")
	}
	if h.Salesforce != nil && h.salesforce == nil {
		return errors.New("salesforce: not provisioned")
	}
	return nil
}
