package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/caddy-intercom/caddy-intercom/injector"
	"math/big"
	"path/filepath"
	"strings"
	"time"
)

// JWK is the public half of an RSA signing key as a JSON Web Key (RFC 7517).
//
// It has fields for public members only, on purpose: whatever a JWK is built
// from or unmarshalled from (Salesforce's own tool emits dummy "d", "k", "y"
// members), marshalling it can never publish private key material. The field
// order is the order Salesforce's documentation shows for the "Keys" keyset
// upload.
type JWK struct {
	Kty string   `json:"kty"`           // always "RSA"
	Kid string   `json:"kid,omitempty"` // must equal the token header's kid
	Alg string   `json:"alg,omitempty"` // "RS256" or "RS512"; "" = not declared
	Use string   `json:"use,omitempty"` // "sig"
	N   string   `json:"n"`             // modulus, unpadded base64url, big-endian
	E   string   `json:"e"`             // public exponent, unpadded base64url, big-endian
	X5c []string `json:"x5c,omitempty"` // certificate chain, standard base64 DER, leaf first
}

// JWKS is a JSON Web Key Set: the document a Salesforce "Endpoint URL" keyset
// fetches. Keys marshals as [] (never null) when empty.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// DefaultCertificateValidity is how long a certificate made by
// GenerateSalesforceKey is valid: one year, a common rotation period that stays
// far above Salesforce's requirement that an uploaded certificate be valid for
// at least 10 more days.
const DefaultCertificateValidity = 365 * 24 * time.Hour

// CertificateExpiryMargin is how long before its expiry a certificate is
// reported as expiring: Salesforce requires an uploaded certificate to stay
// valid for at least 10 more days, so this is the last moment to rotate calmly.
const CertificateExpiryMargin = 10 * 24 * time.Hour

// JWKFromPublicKey returns the public JWK of pub with the given kid and alg
// ("" means "RS256"). It has no x5c member: enough for a JWKS endpoint, not for
// Salesforce's "Keys" upload, which needs the certificate (use
// JWKFromCertificate).
func JWKFromPublicKey(pub *rsa.PublicKey, kid, alg string) (JWK, error) {
	if pub == nil || pub.N == nil {
		return JWK{}, errors.New("jwk: no RSA public key")
	}
	if alg == "" {
		alg = injector.DefaultSalesforceAlgorithm
	}
	if _, ok := injector.SalesforceAlgorithm(alg); !ok {
		return JWK{}, fmt.Errorf("jwk: algorithm %q is not supported (Salesforce accepts %s)", alg, injector.SalesforceAlgorithmNames)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return JWK{}, fmt.Errorf("jwk: invalid RSA public exponent %d", pub.E)
	}
	e := big.NewInt(int64(pub.E)).Bytes()
	return JWK{
		Kty: "RSA",
		Kid: kid,
		Alg: alg,
		Use: "sig",
		N:   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E:   base64.RawURLEncoding.EncodeToString(e),
	}, nil
}

// JWKFromCertificate returns the public JWK of an RSA certificate, with the
// certificate itself in x5c (standard base64 of the DER bytes). This is the
// single-key file Salesforce's "Keys" keyset upload expects: a JWK uploaded
// without x5c is accepted but its tokens silently fail to verify. alg "" means
// "RS256". Only RSA certificates are accepted because Salesforce only accepts
// RS256/RS512 tokens.
func JWKFromCertificate(cert *x509.Certificate, kid, alg string) (JWK, error) {
	if cert == nil {
		return JWK{}, errors.New("jwk: no certificate")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return JWK{}, fmt.Errorf("jwk: certificate %q has a %T key; Salesforce needs an RSA key", cert.Subject.CommonName, cert.PublicKey)
	}
	k, err := JWKFromPublicKey(pub, kid, alg)
	if err != nil {
		return JWK{}, err
	}
	k.X5c = []string{base64.StdEncoding.EncodeToString(cert.Raw)}
	return k, nil
}

// PublicKey decodes the RSA public key in n and e, rejecting malformed or
// non-RSA keys so that a verifier never runs with a half-parsed key.
func (k JWK) PublicKey() (*rsa.PublicKey, error) {
	if k.Kty != "RSA" {
		return nil, fmt.Errorf("jwk %q: kty is %q, want \"RSA\"", k.Kid, k.Kty)
	}
	n, err := jwkDecodeUint(k.N)
	if err != nil {
		return nil, fmt.Errorf("jwk %q: n: %v", k.Kid, err)
	}
	e, err := jwkDecodeUint(k.E)
	if err != nil {
		return nil, fmt.Errorf("jwk %q: e: %v", k.Kid, err)
	}
	if !e.IsInt64() || e.Int64() > 1<<31-1 || e.Int64() < 3 || e.Bit(0) == 0 {
		return nil, fmt.Errorf("jwk %q: e is not a valid RSA public exponent", k.Kid)
	}
	if n.BitLen() < 512 {
		return nil, fmt.Errorf("jwk %q: n is only %d bits", k.Kid, n.BitLen())
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

// Certificate decodes the first (leaf) certificate of x5c; it returns nil and
// no error when the JWK has no x5c.
func (k JWK) Certificate() (*x509.Certificate, error) {
	if len(k.X5c) == 0 {
		return nil, nil
	}
	der, err := base64.StdEncoding.DecodeString(k.X5c[0])
	if err != nil {
		return nil, fmt.Errorf("jwk %q: x5c[0] is not standard base64 (it must be the DER certificate, without PEM header lines): %v", k.Kid, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("jwk %q: x5c[0]: %v", k.Kid, err)
	}
	return cert, nil
}

// jwkDecodeUint decodes an unpadded base64url big-endian unsigned integer.
func jwkDecodeUint(s string) (*big.Int, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, errors.New("not base64url")
	}
	return new(big.Int).SetBytes(b), nil
}

// Find returns the key with the given kid.
func (s JWKS) Find(kid string) (JWK, bool) {
	for _, k := range s.Keys {
		if k.Kid == kid {
			return k, true
		}
	}
	return JWK{}, false
}

// MarshalJSON writes {"keys":[…]}, with an empty array rather than null so
// that consumers that iterate over keys never see a non-array.
func (s JWKS) MarshalJSON() ([]byte, error) {
	type plain JWKS
	if s.Keys == nil {
		s.Keys = []JWK{}
	}
	return json.Marshal(plain(s))
}

// ParseJWKSet reads either a JWKS document ({"keys":[…]}) or a single JWK (the
// file Salesforce's "Keys" upload takes, as written by `caddy intercom
// keygen`), so tools can accept whichever file the operator has at hand.
// Every key must be an RSA key with a kid; private members are dropped.
func ParseJWKSet(data []byte) (JWKS, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return JWKS{}, fmt.Errorf("jwks: not a JSON object: %v", err)
	}
	var set JWKS
	if _, ok := probe["keys"]; ok {
		if err := json.Unmarshal(data, &set); err != nil {
			return JWKS{}, fmt.Errorf("jwks: %v", err)
		}
		if len(set.Keys) == 0 {
			return JWKS{}, errors.New("jwks: the key set is empty")
		}
	} else {
		var k JWK
		if err := json.Unmarshal(data, &k); err != nil {
			return JWKS{}, fmt.Errorf("jwk: %v", err)
		}
		set.Keys = []JWK{k}
	}
	if err := jwkValidateSet(set.Keys); err != nil {
		return JWKS{}, err
	}
	return set, nil
}

// jwkValidateSet checks that every key is a usable RSA key with a unique kid:
// Salesforce selects the verification key by kid alone.
func jwkValidateSet(keys []JWK) error {
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if k.Kid == "" {
			return fmt.Errorf("jwks: key %d has no kid", i)
		}
		if seen[k.Kid] {
			return fmt.Errorf("jwks: kid %q appears twice", k.Kid)
		}
		seen[k.Kid] = true
		if _, err := k.PublicKey(); err != nil {
			return err
		}
	}
	return nil
}

// JWKSDocument returns the JWKS document for keys, indented and ending in a
// newline, ready to be printed or served (for example by the `jwks` path of
// the Caddy module: current key first, then previous ones still published
// during a rotation). It refuses empty kids, duplicate kids and malformed keys,
// because Salesforce picks the verification key by kid alone.
func JWKSDocument(keys ...JWK) ([]byte, error) {
	if err := jwkValidateSet(keys); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(JWKS{Keys: keys}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// ParseCertificatesPEM returns every CERTIFICATE block of a PEM file, in file
// order (leaf first in a chain). Other blocks are ignored so that a combined
// key+certificate file still yields only public material; a file with no
// certificate is an error that names the block types it did find.
func ParseCertificatesPEM(pemBytes []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	var others []string
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			others = append(others, block.Type)
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		if len(others) > 0 {
			return nil, fmt.Errorf("no CERTIFICATE block in PEM data (found %s)", strings.Join(others, ", "))
		}
		if len(bytes.TrimSpace(pemBytes)) == 0 {
			return nil, errors.New("no certificate: the PEM data is empty")
		}
		return nil, errors.New("no certificate: the data is not PEM (expected -----BEGIN CERTIFICATE-----)")
	}
	return certs, nil
}

// CertificateMatchesKey reports whether cert carries the public key pub. The
// Caddy module checks its `certificate` against the signing key at provision,
// so that a mismatched pair fails at startup instead of as silently rejected
// tokens.
func CertificateMatchesKey(cert *x509.Certificate, pub *rsa.PublicKey) bool {
	if cert == nil || pub == nil {
		return false
	}
	certPub, ok := cert.PublicKey.(*rsa.PublicKey)
	return ok && certPub.Equal(pub)
}

// KeyIDFromPath derives a key id from a certificate file name: the base name
// without ".cert.pem", ".crt.pem", ".pem" or ".crt" (the first that matches).
// `caddy intercom keygen` writes KID.cert.pem, so its certificates map back to
// their kid; the jwks and verify commands use this rule, and it gives a kid to
// certificates that carry none (e.g. a previous certificate during rotation).
func KeyIDFromPath(path string) string {
	base := filepath.Base(path)
	for _, suffix := range []string{".cert.pem", ".crt.pem", ".pem", ".crt"} {
		if strings.HasSuffix(base, suffix) && len(base) > len(suffix) {
			return strings.TrimSuffix(base, suffix)
		}
	}
	return base
}

// SalesforceKeyOptions describes the key material GenerateSalesforceKey makes.
type SalesforceKeyOptions struct {
	Bits     int           // RSA modulus size: 2048 (when 0), 3072 or 4096
	KeyID    string        // required: the JWK kid, also the token header's kid
	Issuer   string        // the keyset's issuer; the certificate's CN (KeyID when "" or longer than 64 bytes)
	Now      time.Time     // start of validity; zero means time.Now()
	Validity time.Duration // certificate lifetime; 0 means DefaultCertificateValidity
}

// SalesforceKey is freshly generated key material for Salesforce user
// verification.
type SalesforceKey struct {
	PrivateKeyPEM  []byte            // PKCS#8 "PRIVATE KEY": the format Salesforce's own tooling reads
	CertificatePEM []byte            // self-signed X.509 certificate of the public key
	Certificate    *x509.Certificate // the parsed certificate
	JWK            JWK               // public JWK with x5c: the file to upload to a "Keys" keyset
}

// GenerateSalesforceKey creates an RSA key, a self-signed certificate for it
// and its public JWK, so that operators get what Salesforce asks for without a
// page of OpenSSL commands. The certificate starts five minutes before Now to
// tolerate clock skew between this machine and Salesforce.
func GenerateSalesforceKey(opts SalesforceKeyOptions) (SalesforceKey, error) {
	bits := opts.Bits
	if bits == 0 {
		bits = 2048
	}
	if bits != 2048 && bits != 3072 && bits != 4096 {
		return SalesforceKey{}, fmt.Errorf("keygen: %d bits is not supported (use 2048, 3072 or 4096)", bits)
	}
	if opts.KeyID == "" {
		return SalesforceKey{}, errors.New("keygen: a key id (kid) is required")
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultCertificateValidity
	}
	if validity < 0 {
		return SalesforceKey{}, errors.New("keygen: negative certificate validity")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	cn := opts.Issuer
	if cn == "" || len(cn) > 64 { // RFC 5280 ub-common-name
		cn = opts.KeyID
	}

	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return SalesforceKey{}, fmt.Errorf("keygen: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return SalesforceKey{}, fmt.Errorf("keygen: serial number: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-5 * time.Minute).UTC().Truncate(time.Second),
		NotAfter:              now.Add(validity).UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return SalesforceKey{}, fmt.Errorf("keygen: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return SalesforceKey{}, fmt.Errorf("keygen: certificate: %v", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return SalesforceKey{}, fmt.Errorf("keygen: %v", err)
	}
	jwk, err := JWKFromCertificate(cert, opts.KeyID, "RS256")
	if err != nil {
		return SalesforceKey{}, err
	}
	return SalesforceKey{
		PrivateKeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		CertificatePEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Certificate:    cert,
		JWK:            jwk,
	}, nil
}
