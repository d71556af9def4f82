package injector

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// testNow is the fixed "now" of the signer tests. The sub-second part checks
// that iat is the Unix second, truncated, not rounded.
var testNow = time.Unix(1700000000, 999_999_999)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// splitJWT splits a compact JWS into its three segments, failing the test on
// anything else.
func splitJWT(t *testing.T, tok string) (header, payload, sig string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3", len(parts))
	}
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, "+/=") {
			t.Fatalf("segment %d is not unpadded base64url: %q", i, p)
		}
	}
	return parts[0], parts[1], parts[2]
}

// decodeSegment base64url-decodes a JWT segment.
func decodeSegment(t *testing.T, seg string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	return b
}

// decodeClaims decodes a JSON object keeping numbers as json.Number, so that
// a string claim and a number claim can be told apart and integers compared
// exactly.
func decodeClaims(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return m
}

// assertNoLeak fails if msg contains secret, or any 12-byte run of it when it
// is longer (so a truncated or partial echo is caught too).
func assertNoLeak(t *testing.T, msg string, secret []byte) {
	t.Helper()
	if len(secret) == 0 {
		return
	}
	const window = 12
	if len(secret) <= window {
		if strings.Contains(msg, string(secret)) {
			t.Errorf("error message %q contains secret material", msg)
		}
		return
	}
	for i := 0; i+window <= len(secret); i++ {
		if strings.Contains(msg, string(secret[i:i+window])) {
			t.Errorf("error message %q contains secret material (offset %d)", msg, i)
			return
		}
	}
}

// jsonTestStrings exercise every escaping branch of appendJSONString.
var jsonTestStrings = []string{
	"",
	"plain ascii 123",
	"007",
	`quote " backslash \ slash /`,
	"\b\f\n\r\t",
	"\x00\x01\x1f\x7f",
	"<script>&amp;</script>",
	"Zoë ユーザー 👩‍💻",
	"line\u2028para\u2029end",
	"bad \xff utf8 \xc3",
	"\xed\xa0\x80 surrogate half",
	"ends in partial \xe2\x82",
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonTestStrings {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestAppendJSONStringAppends(t *testing.T) {
	got := appendJSONString([]byte("prefix:"), "a\"b")
	if want := `prefix:"a\"b"`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// FuzzAppendJSONString checks the hand-written encoder against encoding/json
// on arbitrary input; the payload must decode exactly as if json.Marshal had
// built it.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonTestStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestTTLSeconds(t *testing.T) {
	tests := []struct {
		ttl     time.Duration
		want    int64
		wantErr string
	}{
		{0, 3600, ""},
		{time.Second, 1, ""},
		{5 * time.Minute, 300, ""},
		{12 * time.Hour, 43200, ""},
		{-time.Minute, 0, "TTL must be at least 1s, got -1m0s"},
		{500 * time.Millisecond, 0, "TTL must be at least 1s, got 500ms"},
		{90*time.Second + time.Millisecond, 0, "TTL must be a whole number of seconds, got 1m30.001s"},
	}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			got, err := ttlSeconds(tt.ttl)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ttlSeconds(%s) error = %v, want %q", tt.ttl, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ttlSeconds(%s) = %d, %v; want %d", tt.ttl, got, err, tt.want)
			}
		})
	}
}

func TestClockOrNow(t *testing.T) {
	if got := clockOrNow(fixedClock(testNow))(); !got.Equal(testNow) {
		t.Errorf("set clock returned %v, want %v", got, testNow)
	}
	before := time.Now()
	got := clockOrNow(nil)()
	if got.Before(before) || time.Since(got) < 0 {
		t.Errorf("nil clock returned %v, not the current time (%v)", got, before)
	}
}

// TestTokensSettings: one page's tokens, sign-or-reuse, and no Salesforce
// token without a subject (never the user id in its place).
func TestTokensSettings(t *testing.T) {
	ic, err := NewIntercomSigner(IntercomConfig{Secret: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	sf := newTestSalesforceSigner(t, nil)
	var signed []TokenKind
	var hits, misses int
	tokens := &Tokens{
		AppID: "app", APIBase: "https://api-iam.intercom.io", Intercom: ic, UserHash: true,
		Salesforce: sf, Reuse: NewTokenCache(time.Minute, 10, fixedClock(testNow)),
		Signed: func(k TokenKind, _ time.Duration) { signed = append(signed, k) },
		Reused: func(hit bool) {
			if hit {
				hits++
			} else {
				misses++
			}
		},
	}
	tests := []struct {
		name       string
		id         Identity
		wantSF     bool
		wantSigned []TokenKind
		hits, miss int
	}{
		{"no subject: intercom only", Identity{UserID: "u1"}, false, []TokenKind{TokenIntercom}, 0, 0},
		{"subject: signed", Identity{UserID: "u1", SalesforceSubject: "003A"}, true, []TokenKind{TokenIntercom, TokenSalesforce}, 0, 1},
		{"same subject: reused", Identity{UserID: "u1", SalesforceSubject: "003A"}, true, []TokenKind{TokenIntercom}, 1, 0},
	}
	for _, tt := range tests {
		signed, hits, misses = nil, 0, 0
		s, exp, err := tokens.Settings(tt.id)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if (s.SalesforceIdentityToken != "") != tt.wantSF {
			t.Errorf("%s: salesforce token %q", tt.name, s.SalesforceIdentityToken)
		}
		if s.UserID != tt.id.UserID || s.IntercomUserJWT == "" || s.UserHash != UserHash([]byte("s3cret"), tt.id.UserID) || s.AppID != "app" {
			t.Errorf("%s: settings %+v", tt.name, s)
		}
		if exp.IsZero() {
			t.Errorf("%s: no expiry", tt.name)
		}
		if !slices.Equal(signed, tt.wantSigned) || hits != tt.hits || misses != tt.miss {
			t.Errorf("%s: signed %v, hits %d, misses %d; want %v, %d, %d", tt.name, signed, hits, misses, tt.wantSigned, tt.hits, tt.miss)
		}
	}
}

func TestRefreshIn(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	if got := RefreshIn(now, now.Add(time.Hour)); got != 48*time.Minute {
		t.Errorf("RefreshIn(1h) = %s, want 48m", got)
	}
	if got := RefreshIn(now, now.Add(time.Hour)); got != DefaultRefreshIn {
		t.Errorf("DefaultRefreshIn %s disagrees with RefreshIn of the default TTL %s", DefaultRefreshIn, got)
	}
}
