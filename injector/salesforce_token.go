package injector

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// SalesforceConfig configures a SalesforceSigner.
type SalesforceConfig struct {
	// PrivateKeyPEM is the RSA private key whose public half is registered in
	// the Salesforce keyset, PEM-encoded as PKCS#1 ("RSA PRIVATE KEY") or
	// PKCS#8 ("PRIVATE KEY"), unencrypted, at least 2048 bits.
	PrivateKeyPEM []byte

	// KeyID is the header "kid"; it must equal the kid of the key registered
	// in Salesforce, which selects the key to verify with. Required.
	KeyID string

	// Issuer is the "iss" claim; it must byte-match the keyset's "JSON Web Key
	// Issuer" in Salesforce. Required.
	Issuer string

	// Audience is the "aud" claim, emitted as a plain string only when set.
	// Salesforce does not require it.
	Audience string

	// Algorithm is "RS256" (the default when "") or "RS512", the two
	// algorithms Salesforce accepts.
	Algorithm string

	// TTL is the token lifetime, exp - iat; 0 means DefaultTTL. It must be a
	// whole number of seconds.
	TTL time.Duration

	// Clock returns the current time; nil means time.Now. Tests set it.
	Clock func() time.Time
}

// The JWS algorithms Salesforce accepts for identity tokens. This is the one
// definition: the signer, the JWK/JWKS tooling, the token diagnosis, the
// Caddyfile parser and the CLI all ask SalesforceAlgorithm.
const (
	// DefaultSalesforceAlgorithm is used when none is configured.
	DefaultSalesforceAlgorithm = "RS256"
	// SalesforceAlgorithmNames lists the accepted algorithms for messages.
	SalesforceAlgorithmNames = "RS256 or RS512"
)

// SalesforceAlgorithm reports whether Salesforce accepts alg (exact,
// case-sensitive, as JWS compares it) and the hash it signs with.
func SalesforceAlgorithm(alg string) (crypto.Hash, bool) {
	switch alg {
	case "RS256":
		return crypto.SHA256, true
	case "RS512":
		return crypto.SHA512, true
	}
	return 0, false
}

// SalesforceSigner signs the salesforce_identity_token that Salesforce
// Enhanced Chat (Messaging for In-App and Web) verifies against the keyset
// registered for the channel.
//
// The key is parsed and validated once, at construction, and the header and
// the constant part of the payload are precomputed, so Sign costs little
// beyond the RSA operation itself. A SalesforceSigner is immutable and safe
// for concurrent use.
type SalesforceSigner struct {
	key     *rsa.PrivateKey
	hash    crypto.Hash
	kid     string
	ttl     int64 // seconds
	clock   func() time.Time
	prefix  string // base64url(header) + "."
	issJSON []byte // {"iss":"…","sub":
	audJSON []byte // ,"aud":"…" or empty
}

// minRSAKeyBits is the smallest RSA modulus accepted: smaller keys are
// considered breakable (NIST SP 800-131A) and are reported as required for
// Salesforce identity-token keys.
const minRSAKeyBits = 2048

// NewSalesforceSigner validates cfg, parses the private key and returns a
// signer. It rejects an empty KeyID or Issuer, an unknown Algorithm, an
// invalid TTL and any key ParseRSAPrivateKey rejects. Errors say what was
// wrong and never contain key material.
func NewSalesforceSigner(cfg SalesforceConfig) (*SalesforceSigner, error) {
	alg := cfg.Algorithm
	if alg == "" {
		alg = DefaultSalesforceAlgorithm
	}
	h, ok := SalesforceAlgorithm(alg)
	if !ok {
		return nil, fmt.Errorf("salesforce signer: unsupported algorithm %q: Salesforce accepts %s", cfg.Algorithm, SalesforceAlgorithmNames)
	}
	if err := checkIdentifier("key id (kid)", cfg.KeyID); err != nil {
		return nil, fmt.Errorf("salesforce signer: %w", err)
	}
	if err := checkIdentifier("issuer (iss)", cfg.Issuer); err != nil {
		return nil, fmt.Errorf("salesforce signer: %w", err)
	}
	if cfg.Audience != "" {
		if err := checkIdentifier("audience (aud)", cfg.Audience); err != nil {
			return nil, fmt.Errorf("salesforce signer: %w", err)
		}
	}
	ttl, err := ttlSeconds(cfg.TTL)
	if err != nil {
		return nil, fmt.Errorf("salesforce signer: %w", err)
	}
	key, err := ParseRSAPrivateKey(cfg.PrivateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("salesforce signer: %w", err)
	}

	header := []byte(`{"alg":"` + alg + `","typ":"JWT","kid":`)
	header = appendJSONString(header, cfg.KeyID)
	header = append(header, '}')

	iss := appendJSONString([]byte(`{"iss":`), cfg.Issuer)
	iss = append(iss, `,"sub":`...)
	var aud []byte
	if cfg.Audience != "" {
		aud = appendJSONString([]byte(`,"aud":`), cfg.Audience)
	}
	return &SalesforceSigner{
		key:     key,
		hash:    h,
		kid:     cfg.KeyID,
		ttl:     ttl,
		clock:   clockOrNow(cfg.Clock),
		prefix:  base64.RawURLEncoding.EncodeToString(header) + ".",
		issJSON: iss,
		audJSON: aud,
	}, nil
}

// Sign returns the salesforce_identity_token for subject (normally
// Identity.SalesforceSubject): header alg, typ "JWT", kid; claims iss, sub, aud (when
// configured), iat and exp = iat + TTL. The subject must be non-empty valid
// UTF-8 so that it round-trips exactly. Errors never contain the subject.
func (s *SalesforceSigner) Sign(subject string) (Token, error) {
	if err := checkIdentifier("subject (sub)", subject); err != nil {
		return Token{}, fmt.Errorf("salesforce token: %w", err)
	}
	iat, exp, issued, expires := issueTimes(s.clock, s.ttl)

	// Payload: {"iss":…,"sub":…[,"aud":…],"iat":…,"exp":…}; 2×20 digits
	// and the key names bound the fixed part.
	payload := make([]byte, 0, len(s.issJSON)+len(subject)+len(s.audJSON)+64)
	payload = append(payload, s.issJSON...)
	payload = appendJSONString(payload, subject)
	payload = append(payload, s.audJSON...)
	payload = append(payload, `,"iat":`...)
	payload = strconv.AppendInt(payload, iat, 10)
	payload = append(payload, `,"exp":`...)
	payload = strconv.AppendInt(payload, exp, 10)
	payload = append(payload, '}')

	signingLen := len(s.prefix) + base64.RawURLEncoding.EncodedLen(len(payload))
	buf := make([]byte, 0, signingLen+1+base64.RawURLEncoding.EncodedLen(s.key.Size()))
	buf = append(buf, s.prefix...)
	buf = base64.RawURLEncoding.AppendEncode(buf, payload)

	var digest []byte
	switch s.hash {
	case crypto.SHA512:
		d := sha512.Sum512(buf)
		digest = d[:]
	default:
		d := sha256.Sum256(buf)
		digest = d[:]
	}
	// The random parameter of SignPKCS1v15 is ignored (signatures are
	// deterministic; blinding uses crypto/rand internally).
	sig, err := rsa.SignPKCS1v15(nil, s.key, s.hash, digest)
	if err != nil {
		// Cannot happen with a key validated at construction; the error
		// text from crypto/rsa carries no key material.
		return Token{}, fmt.Errorf("salesforce token: signing: %w", err)
	}
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, sig)
	return Token{Value: string(buf), IssuedAt: issued, ExpiresAt: expires}, nil
}

// KeyID returns the configured "kid", for publishing the matching JWK.
func (s *SalesforceSigner) KeyID() string { return s.kid }

// PublicKey returns a copy of the public half of the signing key, so that
// the operator tooling can print the JWK / certificate to register in
// Salesforce and tests can verify signatures.
func (s *SalesforceSigner) PublicKey() *rsa.PublicKey {
	return &rsa.PublicKey{N: new(big.Int).Set(s.key.N), E: s.key.E}
}

// ParseRSAPrivateKey parses an unencrypted PEM-encoded RSA private key in
// PKCS#1 ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY") form of at least
// 2048 bits. Other PEM blocks (a certificate chain next to the key)
// are skipped.
//
// It exists because a wrong key fails silently in the customer's browser, so
// each rejection says what was found instead: a non-RSA key (EC, Ed25519,
// X25519, OpenSSH format), an encrypted key, a key that is too small, PEM
// without a private key, more than one private key, or input that is not PEM
// at all. Error messages name block types and sizes only, never key
// material.
func ParseRSAPrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	var (
		key   *rsa.PrivateKey
		found []string // types of the non-key blocks seen, for the error
		rest  = pemBytes
	)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if !strings.Contains(block.Type, "PRIVATE KEY") {
			found = append(found, block.Type)
			continue
		}
		k, err := parsePrivateKeyBlock(block)
		if err != nil {
			return nil, err
		}
		if key != nil {
			return nil, errors.New("more than one private key found in PEM; provide exactly one RSA private key")
		}
		key = k
	}
	if key == nil {
		if len(found) == 0 && bytes.Contains(pemBytes, []byte("-----BEGIN")) {
			return nil, errors.New("malformed PEM: a -----BEGIN line was found but no block could be decoded (damaged base64 or missing -----END line)")
		}
		if len(found) == 0 {
			return nil, errors.New("no PEM data found: expected a PEM-encoded RSA private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)")
		}
		return nil, fmt.Errorf("no private key found in PEM (found %s): expected an RSA private key", strings.Join(found, ", "))
	}
	if bits := key.N.BitLen(); bits < minRSAKeyBits {
		return nil, fmt.Errorf("RSA key is %d bits; at least %d bits are required", bits, minRSAKeyBits)
	}
	return key, nil
}

// parsePrivateKeyBlock turns one "… PRIVATE KEY" PEM block into an RSA key
// or an error naming what the block holds.
func parsePrivateKeyBlock(block *pem.Block) (*rsa.PrivateKey, error) {
	if block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("encrypted private key found (ENCRYPTED PRIVATE KEY block); decrypt it first, e.g. openssl pkey -in key.pem -out key-decrypted.pem")
	}
	if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, fmt.Errorf("encrypted PEM found (%s block with Proc-Type: ENCRYPTED); decrypt it first, e.g. openssl pkey -in key.pem -out key-decrypted.pem", block.Type)
	}
	var (
		parsed any
		err    error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			// Mislabelled PKCS#8 data is common enough to accept.
			if k, err8 := x509.ParsePKCS8PrivateKey(block.Bytes); err8 == nil {
				parsed, err = k, nil
			}
		}
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			if k, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 == nil {
				parsed, err = k, nil
			}
		}
	case "EC PRIVATE KEY":
		k, ecErr := x509.ParseECPrivateKey(block.Bytes)
		if ecErr != nil {
			return nil, errors.New("EC key found (EC PRIVATE KEY block); Salesforce requires an RSA key")
		}
		parsed = k
	case "OPENSSH PRIVATE KEY":
		return nil, errors.New("OpenSSH private key found (OPENSSH PRIVATE KEY block); convert it to PEM (ssh-keygen -p -m PEM -f key) and use an RSA key")
	default:
		return nil, fmt.Errorf("unsupported private key block %q; expected RSA PRIVATE KEY (PKCS#1) or PRIVATE KEY (PKCS#8)", block.Type)
	}
	if err != nil {
		// The parsers' own text is not passed on: ASN.1 errors are noise to
		// an operator and echo parts of the structure being parsed.
		if strings.Contains(err.Error(), "unknown algorithm") {
			return nil, fmt.Errorf("PKCS#8 key with an unsupported algorithm found (%s block); Salesforce requires an RSA key", block.Type)
		}
		return nil, fmt.Errorf("cannot parse %s block: not a valid PKCS#1 or PKCS#8 private key (damaged or wrong format)", block.Type)
	}
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return nil, fmt.Errorf("EC key found (%s, %s block); Salesforce requires an RSA key", k.Curve.Params().Name, block.Type)
	case ed25519.PrivateKey:
		return nil, fmt.Errorf("Ed25519 key found (%s block); Salesforce requires an RSA key", block.Type)
	case *ecdh.PrivateKey:
		return nil, fmt.Errorf("X25519 key found (%s block); Salesforce requires an RSA key", block.Type)
	default:
		return nil, fmt.Errorf("%T key found (%s block); Salesforce requires an RSA key", parsed, block.Type)
	}
}
