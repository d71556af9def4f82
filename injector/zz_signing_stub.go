// TEMPORARY: a minimal stand-in for the signing core (identity.go, token.go,
// intercom_token.go), written only so that `caddy intercom sign` compiles on
// the tooling branch before the real signer is merged. It implements exactly
// the agreed API used by caddymodule/command.go. DELETE THIS FILE when merging
// the signing core.

package injector

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Attribute is a custom claim signed into the Intercom JWT (TEMPORARY stub).
type Attribute struct{ Name, Value string }

// Identity is the verified user (TEMPORARY stub).
type Identity struct {
	UserID            string
	Email, Name       string
	Attributes        []Attribute
	SalesforceSubject string
}

// Token is a signed token and its validity window (TEMPORARY stub).
type Token struct {
	Value     string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// DefaultTTL is the token lifetime when none is configured (TEMPORARY stub).
const DefaultTTL = time.Hour

// IntercomConfig configures an IntercomSigner (TEMPORARY stub).
type IntercomConfig struct {
	Secret []byte
	TTL    time.Duration
	Clock  func() time.Time
}

// IntercomSigner signs intercom_user_jwt tokens (TEMPORARY stub).
type IntercomSigner struct{ cfg IntercomConfig }

// NewIntercomSigner checks cfg and returns a signer (TEMPORARY stub).
func NewIntercomSigner(cfg IntercomConfig) (*IntercomSigner, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("intercom: empty secret")
	}
	if cfg.TTL < 0 {
		return nil, errors.New("intercom: negative ttl")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &IntercomSigner{cfg: cfg}, nil
}

// Sign returns an HS256 token for id (TEMPORARY stub).
func (s *IntercomSigner) Sign(id Identity) (Token, error) {
	if id.UserID == "" {
		return Token{}, errors.New("intercom: empty user_id")
	}
	now := s.cfg.Clock().Truncate(time.Second)
	exp := now.Add(s.cfg.TTL)
	claims := jwt.MapClaims{"user_id": id.UserID, "iat": now.Unix(), "exp": exp.Unix()}
	if id.Email != "" {
		claims["email"] = id.Email
	}
	if id.Name != "" {
		claims["name"] = id.Name
	}
	for _, a := range id.Attributes {
		claims[a.Name] = a.Value
	}
	v, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.cfg.Secret)
	if err != nil {
		return Token{}, err
	}
	return Token{Value: v, IssuedAt: now, ExpiresAt: exp}, nil
}
