package injector

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Token is a signed token together with the instants it was signed for.
// The times let callers schedule a refresh (see SnippetOptions.RefreshIn)
// and set cache lifetimes without decoding the token again.
type Token struct {
	Value     string    // compact JWS, header.payload.signature
	IssuedAt  time.Time // the "iat" claim (whole seconds)
	ExpiresAt time.Time // the "exp" claim, IssuedAt + TTL
}

// DefaultTTL is the token lifetime used when a signer's TTL is zero. One hour
// matches the examples of both Intercom and Salesforce and Salesforce's own
// default session lifetime; the page refreshes tokens before they expire.
const DefaultTTL = time.Hour

// clockOrNow returns the signer's clock. Signers take the clock in their
// configuration (nil meaning time.Now) so tests can pin "now" and check iat
// and exp exactly.
func clockOrNow(clock func() time.Time) func() time.Time {
	if clock == nil {
		return time.Now
	}
	return clock
}

// ttlSeconds validates a configured TTL and returns it in whole seconds, the
// unit of the iat/exp claims. A TTL that is not a whole number of seconds is
// rejected rather than rounded, so that exp - iat is always exactly the
// configured TTL.
func ttlSeconds(ttl time.Duration) (int64, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Second {
		return 0, fmt.Errorf("TTL must be at least 1s, got %s", ttl)
	}
	if ttl%time.Second != 0 {
		return 0, fmt.Errorf("TTL must be a whole number of seconds, got %s", ttl)
	}
	return int64(ttl / time.Second), nil
}

// issueTimes reads the clock once and returns iat and exp in Unix seconds
// plus the Token times that match them exactly.
func issueTimes(clock func() time.Time, ttl int64) (iat, exp int64, issued, expires time.Time) {
	iat = clock().Unix()
	exp = iat + ttl
	return iat, exp, time.Unix(iat, 0).UTC(), time.Unix(exp, 0).UTC()
}

// errInvalidUTF8 is returned for identifiers (user_id, sub, kid, iss) that
// are not valid UTF-8. JSON cannot carry such bytes: encoding would replace
// them with U+FFFD, so two different ids could sign as the same user.
var errInvalidUTF8 = errors.New("is not valid UTF-8")

// checkIdentifier reports why s cannot be used as the identifier named
// field, or nil. The value itself never appears in the error.
func checkIdentifier(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", field)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %w", field, errInvalidUTF8)
	}
	return nil
}

// TokenKind names a token the edge signs, for metrics.
type TokenKind uint8

const (
	// TokenIntercom is the intercom_user_jwt (HS256).
	TokenIntercom TokenKind = iota
	// TokenSalesforce is the salesforce_identity_token (RS256/RS512).
	TokenSalesforce
)

// String returns the kind as a metric label: "intercom" or "salesforce".
func (k TokenKind) String() string {
	if k == TokenSalesforce {
		return "salesforce"
	}
	return "intercom"
}

// Tokens signs everything one page (or one token-endpoint answer) needs for
// one identity: the Intercom JWT, optionally the user_hash, and the
// Salesforce token, reused from Reuse when that is set (sign-or-reuse). It
// is configured once and then safe for concurrent use; it holds no
// per-request state.
type Tokens struct {
	AppID, APIBase string
	Intercom       *IntercomSigner
	UserHash       bool              // also emit the legacy user_hash
	Salesforce     *SalesforceSigner // nil: no Salesforce token
	Reuse          *TokenCache       // nil: sign a Salesforce token every time

	// Signed, when set, is told how long each signature took (reused
	// tokens are not signed). Reused, when set, is told of each reuse
	// lookup whether it found a token. Both are for metrics; they must be
	// cheap and safe for concurrent use.
	Signed func(TokenKind, time.Duration)
	Reused func(hit bool)
}

// Settings signs id's tokens and returns the page's settings together with
// the instant the first of its tokens expires. A Salesforce token is
// signed only when id.SalesforceSubject is set: without a subject the page
// still gets its Intercom token. Errors name the token, never a value.
func (t *Tokens) Settings(id Identity) (Settings, time.Time, error) {
	start := time.Now()
	tok, err := t.Intercom.Sign(id)
	if t.Signed != nil {
		t.Signed(TokenIntercom, time.Since(start))
	}
	if err != nil {
		return Settings{}, time.Time{}, fmt.Errorf("signing intercom_user_jwt: %w", err)
	}
	s := Settings{
		AppID: t.AppID, APIBase: t.APIBase, UserID: id.UserID,
		Email: id.Email, Name: id.Name, // locked in the page like the identity
		IntercomUserJWT: tok.Value,
	}
	expires := tok.ExpiresAt
	if t.UserHash {
		s.UserHash = t.Intercom.UserHash(id.UserID)
	}
	if t.Salesforce != nil && id.SalesforceSubject != "" {
		sf, err := t.salesforceToken(id.SalesforceSubject)
		if err != nil {
			return Settings{}, time.Time{}, fmt.Errorf("signing salesforce_identity_token: %w", err)
		}
		s.SalesforceIdentityToken = sf.Value
		if sf.ExpiresAt.Before(expires) {
			expires = sf.ExpiresAt
		}
	}
	return s, expires, nil
}

// salesforceToken reuses a recent token for subject or signs a new one.
func (t *Tokens) salesforceToken(subject string) (Token, error) {
	if t.Reuse != nil {
		tok, ok := t.Reuse.Get(subject, t.Salesforce.KeyID())
		if t.Reused != nil {
			t.Reused(ok)
		}
		if ok {
			return tok, nil
		}
	}
	start := time.Now()
	tok, err := t.Salesforce.Sign(subject)
	if t.Signed != nil {
		t.Signed(TokenSalesforce, time.Since(start))
	}
	if err == nil && t.Reuse != nil {
		t.Reuse.Put(subject, t.Salesforce.KeyID(), tok)
	}
	return tok, err
}

// RefreshIn is when a page should fetch fresh tokens: at 80 % of the time
// its tokens have left, so a slow or failed refresh still has a fifth of
// the lifetime to be retried in. The one home of that rule on the server;
// the snippet applies the same fraction to the endpoint's expires_at.
func RefreshIn(now, expires time.Time) time.Duration {
	return expires.Sub(now) * 4 / 5
}
