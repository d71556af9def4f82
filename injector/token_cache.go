package injector

import (
	"container/list"
	"sync"
	"time"
)

// DefaultTokenCacheSize bounds a TokenCache when no size is configured.
const DefaultTokenCacheSize = 10000

// MaxCachedTokenBytes bounds one entry: a token whose subject and value
// together are longer is signed every time rather than cached. A typical
// entry (an 18-character contact id, an RS256 token of a 2048-bit key) is
// about 600 bytes, so only unusual subjects are affected, and the cache
// holds at most size × (MaxCachedTokenBytes + ~200 bytes of bookkeeping):
// about 22 MiB at the default size, whatever the subjects look like.
const MaxCachedTokenBytes = 2 << 10

// TokenCache reuses recently signed tokens. RSA signing costs about a
// millisecond of CPU, so for Salesforce tokens reuse is the difference between
// about a thousand and tens of thousands of pages per second per core.
//
// A token is reused only while it was issued less than the reuse period ago,
// so a reused token always has at least ttl − reuse left. Entries are keyed by
// subject and key ID, so a key rotation never serves an old-key token. The
// cache is a bounded LRU and safe for concurrent use.
type TokenCache struct {
	reuse time.Duration
	size  int
	clock func() time.Time

	mu      sync.Mutex
	order   *list.List // front = most recently used; values are *cacheEntry
	entries map[cacheKey]*list.Element
}

type cacheKey struct{ subject, keyID string }

type cacheEntry struct {
	key   cacheKey
	token Token
}

// NewTokenCache returns a cache that reuses tokens for reuse, holding at
// most size of them (DefaultTokenCacheSize when size <= 0). clock may be nil.
func NewTokenCache(reuse time.Duration, size int, clock func() time.Time) *TokenCache {
	if size <= 0 {
		size = DefaultTokenCacheSize
	}
	if clock == nil {
		clock = time.Now
	}
	return &TokenCache{reuse: reuse, size: size, clock: clock, order: list.New(), entries: make(map[cacheKey]*list.Element)}
}

// Get returns a reusable token for subject signed with keyID.
func (c *TokenCache) Get(subject, keyID string) (Token, bool) {
	k := cacheKey{subject, keyID}
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return Token{}, false
	}
	e := el.Value.(*cacheEntry)
	if age := now.Sub(e.token.IssuedAt); age >= c.reuse || age < 0 {
		c.order.Remove(el)
		delete(c.entries, k)
		return Token{}, false
	}
	c.order.MoveToFront(el)
	return e.token, true
}

// Put stores tok for subject and keyID, evicting the least recently used
// token when the cache is full. An entry larger than MaxCachedTokenBytes
// is not stored (an older one for the subject is dropped).
func (c *TokenCache) Put(subject, keyID string, tok Token) {
	k := cacheKey{subject, keyID}
	if len(subject)+len(tok.Value) > MaxCachedTokenBytes {
		c.mu.Lock()
		if el, ok := c.entries[k]; ok {
			c.order.Remove(el)
			delete(c.entries, k)
		}
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		el.Value.(*cacheEntry).token = tok
		c.order.MoveToFront(el)
		return
	}
	c.entries[k] = c.order.PushFront(&cacheEntry{key: k, token: tok})
	for c.order.Len() > c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
}

// len returns the number of cached tokens (for tests).
func (c *TokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
