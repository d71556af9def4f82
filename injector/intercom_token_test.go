package injector

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testIntercomSecret = []byte("intercom-test-secret")

func newTestIntercomSigner(t testing.TB, ttl time.Duration, clock func() time.Time) *IntercomSigner {
	t.Helper()
	s, err := NewIntercomSigner(IntercomConfig{Secret: testIntercomSecret, TTL: ttl, Clock: clock})
	if err != nil {
		t.Fatalf("NewIntercomSigner: %v", err)
	}
	return s
}

// verifyIntercomToken checks tok the way Intercom would and more: exact
// header, an independently recomputed HMAC, golang-jwt validation at now,
// and the claims, which must be exactly want (no extra claims). Numbers in
// want are json.Number; user_id and attributes must be JSON strings.
func verifyIntercomToken(t *testing.T, tok string, secret []byte, now time.Time, want map[string]any) {
	t.Helper()
	h, p, sig := splitJWT(t, tok)

	if got := string(decodeSegment(t, h)); got != `{"alg":"HS256","typ":"JWT"}` {
		t.Errorf("header = %s", got)
	}

	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(h + "." + p))
	if !hmac.Equal(decodeSegment(t, sig), mac.Sum(nil)) {
		t.Errorf("signature does not match HMAC-SHA256 over header.payload")
	}

	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithTimeFunc(fixedClock(now)),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
	)
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt rejected the token: %v", err)
	}
	mc := parsed.Claims.(jwt.MapClaims)
	if mc["user_id"] != want["user_id"] {
		t.Errorf("golang-jwt user_id = %#v, want %#v", mc["user_id"], want["user_id"])
	}

	got := decodeClaims(t, decodeSegment(t, p))
	if len(got) != len(want) {
		t.Errorf("payload has %d claims, want %d: %v", len(got), len(want), got)
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("claim %q = %#v (%T), want %#v (%T)", k, g, g, w, w)
		}
	}
}

// wantIntercomClaims builds the expected payload for id signed at now.
func wantIntercomClaims(id Identity, now time.Time, ttl time.Duration) map[string]any {
	m := map[string]any{
		"user_id": id.UserID,
		"iat":     json.Number(fmt.Sprint(now.Unix())),
		"exp":     json.Number(fmt.Sprint(now.Unix() + int64(ttl/time.Second))),
	}
	if id.Email != "" {
		m["email"] = id.Email
	}
	if id.Name != "" {
		m["name"] = id.Name
	}
	for _, a := range id.Attributes {
		m[a.Name] = a.Value
	}
	return m
}

func TestIntercomSignKnownAnswer(t *testing.T) {
	// Computed independently with Python's hmac/base64 over the exact payload
	// {"user_id":"007","email":"ada@example.com","name":"Zoë","plan":"pro","iat":1700000000,"exp":1700003600}.
	const want = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." +
		"eyJ1c2VyX2lkIjoiMDA3IiwiZW1haWwiOiJhZGFAZXhhbXBsZS5jb20iLCJuYW1lIjoiWm_DqyIsInBsYW4iOiJwcm8iLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMH0." +
		"51UL3AbHhqKkDVjPbqP-roYP42uqYN3Oxz7bQ-dOYpI"
	s := newTestIntercomSigner(t, 0, fixedClock(testNow))
	tok, err := s.Sign(Identity{
		UserID: "007", Email: "ada@example.com", Name: "Zoë",
		Attributes: []Attribute{{"plan", "pro"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != want {
		t.Errorf("token =\n%s\nwant\n%s", tok.Value, want)
	}
	if !tok.IssuedAt.Equal(time.Unix(1700000000, 0)) || !tok.ExpiresAt.Equal(time.Unix(1700003600, 0)) {
		t.Errorf("IssuedAt, ExpiresAt = %v, %v", tok.IssuedAt, tok.ExpiresAt)
	}
}

func TestIntercomSign(t *testing.T) {
	long := strings.Repeat("Ab0é-", 20000) // 120 kB, past the pooled-buffer cap
	tests := []struct {
		name string
		ttl  time.Duration
		id   Identity
	}{
		{"user id only", 0, Identity{UserID: "u-1"}},
		{"leading zeros stay a string", 0, Identity{UserID: "007"}},
		{"numeric id stays a string", 0, Identity{UserID: "12345678901234567890"}},
		{"mixed case kept", 0, Identity{UserID: "UsEr-MiXeD-Case"}},
		{"surrounding spaces kept", 0, Identity{UserID: "  padded\t"}},
		{"unicode", 0, Identity{UserID: "ユーザー-Zoë-👩‍💻"}},
		{"very long", 0, Identity{UserID: long, Name: long}},
		{"needs escaping", 0, Identity{UserID: "a\"b\\c</script>\u2028\n\x00", Email: "o'brien+tag@example.com"}},
		{"email and name", 0, Identity{UserID: "u-2", Email: "ada@example.com", Name: "Ada Lovelace"}},
		{"attributes in order", 0, Identity{UserID: "u-3", Attributes: []Attribute{
			{"plan", "pro"}, {"company_id", "0042"}, {"created_at", "1516239022"}, {"empty", ""}, {"ünï", "✓"},
		}}},
		{"salesforce subject not signed", 0, Identity{UserID: "u-4", SalesforceSubject: "003XX"}},
		{"ttl 5m", 5 * time.Minute, Identity{UserID: "u-5"}},
		{"ttl 2h", 2 * time.Hour, Identity{UserID: "u-6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestIntercomSigner(t, tt.ttl, fixedClock(testNow))
			tok, err := s.Sign(tt.id)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			ttl := tt.ttl
			if ttl == 0 {
				ttl = DefaultTTL
			}
			verifyIntercomToken(t, tok.Value, testIntercomSecret, testNow, wantIntercomClaims(tt.id, testNow, ttl))

			if want := time.Unix(testNow.Unix(), 0); !tok.IssuedAt.Equal(want) {
				t.Errorf("IssuedAt = %v, want %v", tok.IssuedAt, want)
			}
			if d := tok.ExpiresAt.Sub(tok.IssuedAt); d != ttl {
				t.Errorf("ExpiresAt - IssuedAt = %v, want %v", d, ttl)
			}
			_, p, _ := splitJWT(t, tok.Value)
			if raw := string(decodeSegment(t, p)); !strings.HasPrefix(raw, `{"user_id":"`) {
				t.Errorf("payload does not start with a string user_id: %.40s", raw)
			}
		})
	}
}

func TestIntercomSignExpiresAfterTTL(t *testing.T) {
	s := newTestIntercomSigner(t, 10*time.Minute, fixedClock(testNow))
	tok, err := s.Sign(Identity{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(testNow.Unix(), 0).Add(10 * time.Minute)
	_, err = jwt.Parse(tok.Value, func(*jwt.Token) (any, error) { return testIntercomSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(fixedClock(exp.Add(time.Second))))
	if !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("one second after exp: err = %v, want %v", err, jwt.ErrTokenExpired)
	}
}

func TestIntercomSignReadsClockEachTime(t *testing.T) {
	now := testNow
	s := newTestIntercomSigner(t, 0, func() time.Time { return now })
	for _, d := range []time.Duration{0, 90 * time.Second, 48 * time.Hour} {
		now = testNow.Add(d)
		tok, err := s.Sign(Identity{UserID: "u"})
		if err != nil {
			t.Fatal(err)
		}
		verifyIntercomToken(t, tok.Value, testIntercomSecret, now, wantIntercomClaims(Identity{UserID: "u"}, now, DefaultTTL))
	}
}

func TestIntercomSignUsesWallClockByDefault(t *testing.T) {
	s := newTestIntercomSigner(t, 0, nil)
	before := time.Now().Unix()
	tok, err := s.Sign(Identity{UserID: "u"})
	after := time.Now().Unix()
	if err != nil {
		t.Fatal(err)
	}
	if iat := tok.IssuedAt.Unix(); iat < before || iat > after {
		t.Errorf("iat %d not within [%d, %d]", iat, before, after)
	}
}

// Invalid UTF-8 outside user_id is encoded as encoding/json does (U+FFFD):
// it cannot change who the user is.
func TestIntercomSignInvalidUTF8InOptionalFields(t *testing.T) {
	s := newTestIntercomSigner(t, 0, fixedClock(testNow))
	tok, err := s.Sign(Identity{UserID: "u", Name: "bad\xffname", Attributes: []Attribute{{"team", "x\xfe"}}})
	if err != nil {
		t.Fatal(err)
	}
	verifyIntercomToken(t, tok.Value, testIntercomSecret, testNow, map[string]any{
		"user_id": "u", "name": "bad\uFFFDname", "team": "x\uFFFD",
		"iat": json.Number("1700000000"), "exp": json.Number("1700003600"),
	})
}

func TestIntercomSignerKeepsOwnCopyOfSecret(t *testing.T) {
	secret := []byte("mutable-secret")
	s, err := NewIntercomSigner(IntercomConfig{Secret: secret, Clock: fixedClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	copy(secret, "XXXXXXXXXXXXXX")
	tok, err := s.Sign(Identity{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	verifyIntercomToken(t, tok.Value, []byte("mutable-secret"), testNow, wantIntercomClaims(Identity{UserID: "u"}, testNow, DefaultTTL))
}

// Pooled buffers must not carry claims from one token into the next.
func TestIntercomSignReusesBuffersCleanly(t *testing.T) {
	s := newTestIntercomSigner(t, 0, fixedClock(testNow))
	ids := []Identity{
		{UserID: "first", Email: "first@example.com", Name: "First", Attributes: []Attribute{{"plan", "enterprise"}}},
		{UserID: "2"},
		{UserID: strings.Repeat("x", 1000)},
		{UserID: "3", Name: "n"},
	}
	for i := 0; i < 3; i++ {
		for _, id := range ids {
			tok, err := s.Sign(id)
			if err != nil {
				t.Fatal(err)
			}
			verifyIntercomToken(t, tok.Value, testIntercomSecret, testNow, wantIntercomClaims(id, testNow, DefaultTTL))
		}
	}
}

func TestIntercomSignConcurrent(t *testing.T) {
	s := newTestIntercomSigner(t, 0, fixedClock(testNow))
	const goroutines, perG = 8, 200
	var wg sync.WaitGroup
	errs := make(chan string, goroutines*perG)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				id := Identity{UserID: fmt.Sprintf("user-%d-%d", g, i), Name: strings.Repeat("n", g*i%300)}
				tok, err := s.Sign(id)
				if err != nil {
					errs <- err.Error()
					continue
				}
				// Checked inline (t.Fatal is not allowed off the test goroutine).
				parts := strings.Split(tok.Value, ".")
				if len(parts) != 3 {
					errs <- fmt.Sprintf("token for %s has %d segments", id.UserID, len(parts))
					continue
				}
				mac := hmac.New(sha256.New, testIntercomSecret)
				mac.Write([]byte(parts[0] + "." + parts[1]))
				wantSig := base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
				raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
				var claims struct {
					UserID string `json:"user_id"`
					Name   string `json:"name"`
				}
				if err := json.Unmarshal(raw, &claims); err != nil || claims.UserID != id.UserID || claims.Name != id.Name ||
					parts[0] != intercomHeader || parts[2] != wantSig {
					errs <- fmt.Sprintf("token for %s is wrong", id.UserID)
				}
				if uh := s.UserHash(id.UserID); uh != UserHash(testIntercomSecret, id.UserID) {
					errs <- fmt.Sprintf("user_hash for %s is wrong", id.UserID)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestNewIntercomSignerRejects(t *testing.T) {
	tests := []struct {
		name    string
		cfg     IntercomConfig
		wantErr string
	}{
		{"nil secret", IntercomConfig{}, "intercom signer: secret is empty"},
		{"empty secret", IntercomConfig{Secret: []byte{}}, "intercom signer: secret is empty"},
		{"negative ttl", IntercomConfig{Secret: testIntercomSecret, TTL: -time.Hour}, "intercom signer: TTL must be at least 1s, got -1h0m0s"},
		{"sub-second ttl", IntercomConfig{Secret: testIntercomSecret, TTL: time.Millisecond}, "intercom signer: TTL must be at least 1s, got 1ms"},
		{"fractional ttl", IntercomConfig{Secret: testIntercomSecret, TTL: 1500 * time.Millisecond}, "intercom signer: TTL must be a whole number of seconds, got 1.5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewIntercomSigner(tt.cfg)
			if err == nil || s != nil {
				t.Fatalf("NewIntercomSigner = %v, %v; want error", s, err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", err, tt.wantErr)
			}
			assertNoLeak(t, err.Error(), testIntercomSecret)
		})
	}
}

func TestIntercomSignRejects(t *testing.T) {
	const value = "sensitive-value-42"
	tests := []struct {
		name    string
		id      Identity
		wantErr string
	}{
		{"empty user id", Identity{Email: value}, "intercom token: user_id is empty"},
		{"user id not utf-8", Identity{UserID: value + "\xff"}, "intercom token: user_id is not valid UTF-8"},
		{"empty attribute name", Identity{UserID: value, Attributes: []Attribute{{"", value}}}, "intercom token: attribute name is empty"},
		{"attribute name not utf-8", Identity{UserID: value, Attributes: []Attribute{{"a\xff", value}}}, "intercom token: attribute name is not valid UTF-8"},
		{"duplicate attribute", Identity{UserID: value, Attributes: []Attribute{{"plan", value}, {"team", value}, {"plan", value}}},
			`intercom token: attribute name "plan" appears more than once`},
	}
	for _, r := range reservedIntercomClaims {
		tests = append(tests, struct {
			name    string
			id      Identity
			wantErr string
		}{"shadows " + r, Identity{UserID: value, Attributes: []Attribute{{"ok", value}, {r, value}}},
			fmt.Sprintf(`intercom token: attribute name %q would shadow the token's own %q claim (reserved: user_id, email, name, iat, exp)`, r, r)})
	}
	s := newTestIntercomSigner(t, 0, fixedClock(testNow))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := s.Sign(tt.id)
			if err == nil {
				t.Fatalf("Sign = %q; want error", tok.Value)
			}
			if tok != (Token{}) {
				t.Errorf("Sign returned a token with the error: %+v", tok)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", err, tt.wantErr)
			}
			assertNoLeak(t, err.Error(), testIntercomSecret)
			if strings.Contains(err.Error(), value) {
				t.Errorf("error %q contains an identity value", err)
			}
		})
	}
}

func TestValidateAttributeName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"plan", ""},
		{"company_id", ""},
		{"created_at", ""},
		{"User_ID", ""}, // claim names are case-sensitive
		{"user id", ""},
		{"ünïcode", ""},
		{"", "attribute name is empty"},
		{"\xff", "attribute name is not valid UTF-8"},
		{"user_id", `attribute name "user_id" would shadow the token's own "user_id" claim (reserved: user_id, email, name, iat, exp)`},
		{"email", `attribute name "email" would shadow the token's own "email" claim (reserved: user_id, email, name, iat, exp)`},
		{"name", `attribute name "name" would shadow the token's own "name" claim (reserved: user_id, email, name, iat, exp)`},
		{"iat", `attribute name "iat" would shadow the token's own "iat" claim (reserved: user_id, email, name, iat, exp)`},
		{"exp", `attribute name "exp" would shadow the token's own "exp" claim (reserved: user_id, email, name, iat, exp)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateAttributeName(tt.name)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("ValidateAttributeName(%q) = %v, want nil", tt.name, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ValidateAttributeName(%q) = %v, want %q", tt.name, err, tt.wantErr)
			}
		})
	}
}

func TestUserHashKnownAnswers(t *testing.T) {
	// Vectors from `printf %s 007 | openssl dgst -sha256 -hmac intercom-test-secret`
	// and Python's hmac module.
	tests := []struct {
		secret, userID, want string
	}{
		{"intercom-test-secret", "007", "8c3e7ddb5b07a50e4f917ffb4913909c75f0993921322381214acbb3e23d798c"},
		{"intercom-test-secret", "User-ÄÖ-ユーザー", "1bdc3f0efd09c2c4acea354761d503a0e55a805f2d750ec6f8d49c23738e12da"},
		{"key", "The quick brown fox jumps over the lazy dog", "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"},
	}
	for _, tt := range tests {
		t.Run(tt.userID, func(t *testing.T) {
			if got := UserHash([]byte(tt.secret), tt.userID); got != tt.want {
				t.Errorf("UserHash = %s, want %s", got, tt.want)
			}
			s, err := NewIntercomSigner(IntercomConfig{Secret: []byte(tt.secret)})
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second call reuses the pooled, reset HMAC state.
			for i := 0; i < 2; i++ {
				if got := s.UserHash(tt.userID); got != tt.want {
					t.Errorf("IntercomSigner.UserHash call %d = %s, want %s", i, got, tt.want)
				}
			}
		})
	}
}

// benchIdentity is a typical signed identity: id, email, name and two
// attributes.
var benchIdentity = Identity{
	UserID: "4f1c2a7e-9b0d-4c1e-8a53-7d2f6b9e0c11", Email: "ada.lovelace@example.com", Name: "Ada Lovelace",
	Attributes: []Attribute{{"plan", "enterprise"}, {"company_id", "0042"}},
}

func BenchmarkIntercomToken(b *testing.B) {
	s := newTestIntercomSigner(b, 0, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(benchIdentity); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIntercomTokenParallel(b *testing.B) {
	s := newTestIntercomSigner(b, 0, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Sign(benchIdentity); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkUserHash(b *testing.B) {
	b.Run("func", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			UserHash(testIntercomSecret, benchIdentity.UserID)
		}
	})
	b.Run("signer", func(b *testing.B) {
		s := newTestIntercomSigner(b, 0, nil)
		b.ReportAllocs()
		for b.Loop() {
			s.UserHash(benchIdentity.UserID)
		}
	})
}
