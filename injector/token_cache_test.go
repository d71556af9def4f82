package injector

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenCacheReuseWindow(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := NewTokenCache(5*time.Minute, 10, func() time.Time { return now })
	tok := Token{Value: "t1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	c.Put("alice", "k1", tok)

	for _, tc := range []struct {
		name    string
		advance time.Duration
		subject string
		keyID   string
		hit     bool
	}{
		{"fresh", 0, "alice", "k1", true},
		{"just inside the window", 5*time.Minute - time.Second, "alice", "k1", true},
		{"another subject", 0, "bob", "k1", false},
		{"another key id (rotation)", 0, "alice", "k2", false},
		{"subject differs only in case", 0, "Alice", "k1", false},
		{"window over", 5 * time.Minute, "alice", "k1", false},
	} {
		now = tok.IssuedAt.Add(tc.advance)
		got, ok := c.Get(tc.subject, tc.keyID)
		if ok != tc.hit || (ok && got != tok) {
			t.Errorf("%s: Get = %v, %v; want hit %v", tc.name, got, ok, tc.hit)
		}
	}
	if c.len() != 0 {
		t.Errorf("expired entry still cached: %d", c.len())
	}
}

func TestTokenCacheBoundedLRU(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := NewTokenCache(time.Minute, 3, func() time.Time { return now })
	for i := range 3 {
		c.Put(fmt.Sprint(i), "k", Token{Value: fmt.Sprint(i), IssuedAt: now})
	}
	c.Get("0", "k") // 0 is now the most recently used; 1 the least
	c.Put("3", "k", Token{Value: "3", IssuedAt: now})
	if c.len() != 3 {
		t.Fatalf("Len = %d, want 3", c.len())
	}
	if _, ok := c.Get("1", "k"); ok {
		t.Error("least recently used entry was not evicted")
	}
	for _, s := range []string{"0", "2", "3"} {
		if _, ok := c.Get(s, "k"); !ok {
			t.Errorf("entry %s evicted", s)
		}
	}
	if NewTokenCache(time.Minute, 0, nil).size != DefaultTokenCacheSize {
		t.Error("default size not applied")
	}
}

func TestTokenCacheConcurrent(t *testing.T) {
	c := NewTokenCache(time.Minute, 64, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				s := fmt.Sprint((g*1000 + i) % 100)
				if tok, ok := c.Get(s, "k"); ok && tok.Value != s {
					t.Errorf("subject %s got token %s", s, tok.Value)
					return
				}
				c.Put(s, "k", Token{Value: s, IssuedAt: time.Now()})
			}
		}()
	}
	wg.Wait()
	if c.len() > 64 {
		t.Errorf("cache grew to %d", c.len())
	}
}

// TestTokenCacheBoundedInBytes: a large subject cannot make the cache hold
// more than size × MaxCachedTokenBytes (issue 13 item 10). Today's attack:
// 10 000 subjects of 16 KB each pinned ~450 MB.
func TestTokenCacheBoundedInBytes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := NewTokenCache(5*time.Minute, 100, func() time.Time { return now })
	tok := func(sub string) Token {
		return Token{Value: "header." + sub + ".signature", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	small := "003XX000004TmiQ"
	c.Put(small, "k1", tok(small))
	if _, ok := c.Get(small, "k1"); !ok {
		t.Fatal("a typical subject is not cached")
	}
	var bytes int
	for i := range 200 {
		big := fmt.Sprintf("%0*d", 16<<10, i)
		c.Put(big, "k1", tok(big))
		if _, ok := c.Get(big, "k1"); ok {
			t.Fatalf("a %d-byte subject was cached", len(big))
		}
	}
	c.mu.Lock()
	for _, el := range c.entries {
		e := el.Value.(*cacheEntry)
		bytes += len(e.key.subject) + len(e.token.Value)
	}
	c.mu.Unlock()
	if limit := 100 * MaxCachedTokenBytes; bytes > limit {
		t.Errorf("cache holds %d bytes of subjects and tokens, bound %d", bytes, limit)
	}
	// A subject whose token grows past the bound drops its old entry
	// rather than serving it on.
	edge := strings.Repeat("s", MaxCachedTokenBytes/2)
	c.Put(edge, "k1", tok("x"))
	c.Put(edge, "k1", tok(edge))
	if _, ok := c.Get(edge, "k1"); ok {
		t.Error("an oversized token replaced by nothing still served the old one")
	}
}
