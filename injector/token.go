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
