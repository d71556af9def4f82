package injector

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
)

func TestSessionMarkerDecide(t *testing.T) {
	m := NewSessionMarker([]byte("secret"))
	alice, bob := m.Value("alice"), m.Value("bob")
	if alice == bob || alice == "" {
		t.Fatalf("markers must differ per user: %q %q", alice, bob)
	}
	if other := NewSessionMarker([]byte("other")).Value("alice"); other == alice {
		t.Fatal("marker does not depend on the key")
	}
	for _, tc := range []struct {
		name, user, marker string
		want               Hygiene
	}{
		{"same user", "alice", alice, Hygiene{}},
		{"first identified page", "alice", "", Hygiene{SetMarker: alice}},
		{"user switch", "bob", alice, Hygiene{Shutdown: true, SetMarker: bob}},
		{"tampered marker", "alice", alice[:len(alice)-1] + "x", Hygiene{Shutdown: true, SetMarker: alice}},
		{"marker holds the raw id", "alice", "alice", Hygiene{Shutdown: true, SetMarker: alice}},
		{"logout", "", alice, Hygiene{Shutdown: true, ExpireMarker: true}},
		{"anonymous, no marker", "", "", Hygiene{}},
	} {
		if got := m.Decide(tc.user, tc.marker); got != tc.want {
			t.Errorf("%s: Decide(%q, %q) = %+v, want %+v", tc.name, tc.user, tc.marker, got, tc.want)
		}
	}
}

func TestSessionCookieDomain(t *testing.T) {
	for host, want := range map[string]string{
		"app.example.com":       ".example.com",
		"APP.Example.com:8443":  ".example.com",
		"example.com":           ".example.com",
		"app.example.co.uk":     ".example.co.uk",
		"alice.github.io":       ".alice.github.io",
		"github.io":             "",
		"localhost":             "",
		"localhost:8080":        "",
		"127.0.0.1:8080":        "",
		"[::1]:8080":            "",
		"app.example.test":      ".example.test",
		"help.example.test:443": ".example.test",
	} {
		if got := SessionCookieDomain(host); got != want {
			t.Errorf("SessionCookieDomain(%q) = %q, want %q", host, got, want)
		}
	}
}

// TestSessionMarkerPooledStates checks that the recycled HMAC states give
// exactly the marker a fresh HMAC gives, in any order and concurrently (a
// state reused without Reset would mix one user's id into another's marker).
func TestSessionMarkerPooledStates(t *testing.T) {
	secret := []byte("secret")
	m := NewSessionMarker(secret)
	fresh := func(user string) string {
		kmac := hmac.New(sha256.New, secret)
		kmac.Write([]byte("caddy-intercom session marker v1"))
		mac := hmac.New(sha256.New, kmac.Sum(nil))
		mac.Write([]byte(user))
		return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
	}
	if got, want := (SessionMarker{key: m.key}).Value("alice"), fresh("alice"); got != want {
		t.Fatalf("a SessionMarker without a pool: %q, want %q", got, want)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				user := fmt.Sprintf("user-%d-%d", g, i%17)
				if got, want := m.Value(user), fresh(user); got != want {
					t.Errorf("Value(%q) = %q, want %q", user, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkSessionMarkerValue(b *testing.B) {
	m := NewSessionMarker([]byte("secret"))
	b.ReportAllocs()
	for b.Loop() {
		m.Value("user-123456")
	}
}
