package injector

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// IntercomConfig configures an IntercomSigner.
type IntercomConfig struct {
	// Secret is the Messenger API secret from Intercom's Messenger security
	// settings. It is required; the signer keeps its own copy.
	Secret []byte

	// TTL is the token lifetime, exp - iat; 0 means DefaultTTL. It must be a
	// whole number of seconds, because iat and exp are integer seconds.
	TTL time.Duration

	// Clock returns the current time; nil means time.Now. Tests set it.
	Clock func() time.Time
}

// IntercomSigner signs the Messenger's intercom_user_jwt (HS256 with the
// Messenger API secret) and computes the legacy user_hash.
//
// A token is signed on every HTML page load, so Sign is hand-built rather
// than going through a generic JWT library: the header is precomputed, the
// payload is appended straight into a reused buffer and the HMAC state
// (already keyed with the secret) is reused. The reused state lives in a
// sync.Pool, so an IntercomSigner holds no per-request state and is safe for
// concurrent use. It must not be copied after first use.
type IntercomSigner struct {
	secret []byte
	ttl    int64 // seconds
	clock  func() time.Time
	// scratch holds *intercomScratch values: keyed HMAC state and buffers.
	scratch sync.Pool
}

// intercomScratch is the per-call working state of IntercomSigner; one
// goroutine owns it between Get and Put.
type intercomScratch struct {
	mac     hash.Hash // HMAC-SHA256 keyed with the secret; Reset before use
	payload []byte    // JSON payload
	enc     []byte    // base64url of the payload, then of the signature
	sum     [sha256.Size]byte
}

// maxPooledBuffer caps the buffers kept in the pool, so one huge identity
// does not pin its memory for the life of the process.
const maxPooledBuffer = 16 << 10

// intercomHeader is base64url({"alg":"HS256","typ":"JWT"}), precomputed.
var intercomHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// intercomSigningPrefix is the header and the dot that follows it, as
// written into the HMAC for every token.
var intercomSigningPrefix = []byte(intercomHeader + ".")

// reservedIntercomClaims are the claims the signer sets itself; an attribute
// with one of these names would silently overwrite or duplicate them.
var reservedIntercomClaims = [...]string{"user_id", "email", "name", "iat", "exp"}

// NewIntercomSigner validates cfg and returns a signer. The secret must be
// non-empty: an empty key would produce tokens anyone can forge, and
// Intercom would reject them anyway.
func NewIntercomSigner(cfg IntercomConfig) (*IntercomSigner, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("intercom signer: secret is empty")
	}
	ttl, err := ttlSeconds(cfg.TTL)
	if err != nil {
		return nil, fmt.Errorf("intercom signer: %w", err)
	}
	s := &IntercomSigner{
		secret: append([]byte(nil), cfg.Secret...),
		ttl:    ttl,
		clock:  clockOrNow(cfg.Clock),
	}
	s.scratch.New = func() any {
		return &intercomScratch{mac: hmac.New(sha256.New, s.secret)}
	}
	return s, nil
}

// ValidateAttributeName reports whether name can be used as an Intercom JWT
// attribute claim. It rejects an empty name, a name that is not valid UTF-8
// and the claims the signer sets itself (user_id, email, name, iat, exp):
// a shadowing attribute is a configuration error, not a silent overwrite.
// The configuration layer calls it at load time; Sign checks again.
func ValidateAttributeName(name string) error {
	if name == "" {
		return errors.New("attribute name is empty")
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("attribute name %w", errInvalidUTF8)
	}
	for _, r := range reservedIntercomClaims {
		if name == r {
			return fmt.Errorf("attribute name %q would shadow the token's own %q claim (reserved: %s)",
				name, r, strings.Join(reservedIntercomClaims[:], ", "))
		}
	}
	return nil
}

// Sign returns the intercom_user_jwt for id: header {"alg":"HS256","typ":"JWT"}
// and payload user_id (always a JSON string), email and name when non-empty,
// each attribute as its own string claim in order, iat and exp = iat + TTL.
//
// It fails when UserID is empty or not valid UTF-8 (it could not round-trip
// exactly), or when an attribute name is invalid, reserved or repeated.
// Other values are encoded as encoding/json would, invalid UTF-8 included.
// Errors never contain the secret or identity values.
func (s *IntercomSigner) Sign(id Identity) (Token, error) {
	if err := checkIdentifier("user_id", id.UserID); err != nil {
		return Token{}, fmt.Errorf("intercom token: %w", err)
	}
	for i, a := range id.Attributes {
		if err := ValidateAttributeName(a.Name); err != nil {
			return Token{}, fmt.Errorf("intercom token: %w", err)
		}
		for _, prev := range id.Attributes[:i] {
			if prev.Name == a.Name {
				return Token{}, fmt.Errorf("intercom token: attribute name %q appears more than once", a.Name)
			}
		}
	}
	iat, exp, issued, expires := issueTimes(s.clock, s.ttl)

	sc := s.scratch.Get().(*intercomScratch)
	defer s.putScratch(sc)

	p := append(sc.payload[:0], `{"user_id":`...)
	p = appendJSONString(p, id.UserID)
	if id.Email != "" {
		p = append(p, `,"email":`...)
		p = appendJSONString(p, id.Email)
	}
	if id.Name != "" {
		p = append(p, `,"name":`...)
		p = appendJSONString(p, id.Name)
	}
	for _, a := range id.Attributes {
		p = append(p, ',')
		p = appendJSONString(p, a.Name)
		p = append(p, ':')
		p = appendJSONString(p, a.Value)
	}
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, iat, 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, exp, 10)
	p = append(p, '}')
	sc.payload = p

	enc := base64.RawURLEncoding.AppendEncode(sc.enc[:0], p)
	sigLen := base64.RawURLEncoding.EncodedLen(sha256.Size)
	var b strings.Builder
	b.Grow(len(intercomSigningPrefix) + len(enc) + 1 + sigLen)
	b.Write(intercomSigningPrefix)
	b.Write(enc)

	sc.mac.Reset()
	sc.mac.Write(intercomSigningPrefix)
	sc.mac.Write(enc)
	sum := sc.mac.Sum(sc.sum[:0])
	enc = base64.RawURLEncoding.AppendEncode(enc[:0], sum)
	sc.enc = enc
	b.WriteByte('.')
	b.Write(enc)

	return Token{Value: b.String(), IssuedAt: issued, ExpiresAt: expires}, nil
}

// UserHash returns the legacy Identity Verification user_hash for userID,
// keyed with the signer's secret: lowercase hex HMAC-SHA256(secret, userID).
// Customers still migrating to JWTs (and the mobile SDKs) need it.
func (s *IntercomSigner) UserHash(userID string) string {
	sc := s.scratch.Get().(*intercomScratch)
	defer s.putScratch(sc)
	sc.payload = append(sc.payload[:0], userID...)
	sc.mac.Reset()
	sc.mac.Write(sc.payload)
	sum := sc.mac.Sum(sc.sum[:0])
	sc.enc = hex.AppendEncode(sc.enc[:0], sum)
	return string(sc.enc)
}

// putScratch returns sc to the pool unless its buffers grew too large to be
// worth keeping.
func (s *IntercomSigner) putScratch(sc *intercomScratch) {
	if cap(sc.payload) > maxPooledBuffer {
		sc.payload = nil
	}
	if cap(sc.enc) > maxPooledBuffer {
		sc.enc = nil
	}
	s.scratch.Put(sc)
}

// UserHash returns the legacy Identity Verification user_hash: lowercase hex
// HMAC-SHA256(secret, userID). Intercom requires the hash of user_id (not
// email) whenever a user_id is sent. It is a plain function for tools that
// have no signer; servers should use IntercomSigner.UserHash.
func UserHash(secret []byte, userID string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(userID))
	return hex.EncodeToString(mac.Sum(nil))
}
