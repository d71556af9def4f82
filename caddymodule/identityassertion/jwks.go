package identityassertion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"net/http"
)

// jwksSource keeps a provider's JWK Set. jwkset parses and stores the keys
// and keyfunc matches a token's kid and alg to them; the fetching is ours,
// because the contract needs what keyfunc's refresher does not do: honour the
// endpoint's Cache-Control lifetime, retry quickly while no key was ever
// fetched, run OpenID discovery, and answer a flood of unknown kids with one
// coalesced fetch per minInterval instead of blocking requests in a rate
// limiter's queue (or dropping the refresh a real rotation needs).
type jwksSource struct {
	url       string // fixed JWKS URL, or "" until discovery found it
	issuer    string
	discovery bool
	client    *http.Client
	t         timing
	logger    *zap.Logger

	store *jwkset.MemoryJWKSet
	kf    keyfunc.Keyfunc

	wake     chan struct{} // a request saw an unknown kid
	have     atomic.Bool   // at least one fetch succeeded
	fetches  atomic.Int64
	readyCh  chan struct{} // closed at the first successful fetch
	readyOne sync.Once

	mu        sync.Mutex
	lastStart time.Time     // start of the last fetch
	done      chan struct{} // closed when the next fetch to start ends
	jwksURL   string        // discovered
}

func newJWKSSource(url, issuer string, discovery bool, client *http.Client, t timing, logger *zap.Logger) *jwksSource {
	store := jwkset.NewMemoryStorage()
	kf, err := keyfunc.New(keyfunc.Options{
		Storage:      store,
		UseWhitelist: []jwkset.USE{jwkset.UseSig, ""},
	})
	if err != nil {
		panic(err) // only when Storage is nil
	}
	return &jwksSource{
		url: url, issuer: issuer, discovery: discovery, client: client, t: t, logger: logger,
		store: store, kf: kf,
		wake:    make(chan struct{}, 1),
		readyCh: make(chan struct{}),
		done:    make(chan struct{}),
	}
}

func (s *jwksSource) fetchCount() int64 { return s.fetches.Load() }

func (s *jwksSource) waitReady(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.readyCh:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return s.have.Load()
}

// key returns the key for t. An unknown kid asks the refresher for a fetch;
// when one may start right away, the request waits for it, so the first
// request carrying a rotated-in key is already honoured.
func (s *jwksSource) key(ctx context.Context, t *jwt.Token) (any, error) {
	_, hasKid := t.Header["kid"]
	if !s.have.Load() {
		s.wait(ctx, s.want())
		if !s.have.Load() {
			return nil, errKeysUnavailable
		}
	}
	k, err := s.kf.KeyfuncCtx(ctx)(t)
	if err == nil || !errors.Is(err, jwkset.ErrKeyNotFound) {
		return k, err
	}
	if !hasKid {
		return nil, errUnknownKey
	}
	if ch := s.want(); ch != nil {
		s.wait(ctx, ch)
		if k, err = s.kf.KeyfuncCtx(ctx)(t); err == nil || !errors.Is(err, jwkset.ErrKeyNotFound) {
			return k, err
		}
	}
	return nil, errUnknownKey
}

// want asks for a fetch. It returns a channel closed when a fetch that
// starts after this call ends, if that fetch can start at once (the last one
// started at least minInterval ago; one in flight may have fetched the keys
// before the provider added the new one, so it does not count), nil when the
// fetch is deferred.
func (s *jwksSource) want() chan struct{} {
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.lastStart) >= s.t.minInterval {
		return s.done
	}
	return nil
}

func (s *jwksSource) wait(ctx context.Context, ch chan struct{}) {
	if ch == nil {
		return
	}
	t := time.NewTimer(s.t.fetchTimeout + time.Second)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *jwksSource) start(ctx context.Context) { go s.loop(ctx) }

// loop fetches at start, then on schedule (the endpoint's max-age, bounded),
// on retry while failing, and when a request saw an unknown kid, never two
// fetches less than minInterval apart.
func (s *jwksSource) loop(ctx context.Context) {
	delay := time.Duration(0)
	retry := s.t.retryMin
	failures := 0
	for {
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-s.wake:
			timer.Stop()
		}
		s.mu.Lock()
		gap := s.t.minInterval - time.Since(s.lastStart)
		s.mu.Unlock()
		if !sleep(ctx, gap) {
			return
		}
		age, err := s.fetch(ctx)
		if err != nil {
			failures++
		}
		// The first failure of a run is a warning; the retries that follow
		// are debug, so that a key server that stays down does not flood
		// the log.
		level := zap.DebugLevel
		if failures == 1 {
			level = zap.WarnLevel
		}
		switch {
		case err == nil:
			if failures > 0 {
				s.logger.Info("identity_assertion: keys fetched again", zap.Int("failed_attempts", failures))
			}
			failures = 0
			retry = s.t.retryMin
			delay = s.t.refreshDef
			if age > 0 {
				delay = clamp(age, s.t.refreshMin, s.t.refreshMax)
			}
		case s.have.Load():
			s.logger.Log(level, "identity_assertion: key refresh failed; keeping the current keys", zap.Error(err))
			delay = s.t.retryHave
		default:
			s.logger.Log(level, "identity_assertion: keys unavailable; requests stay anonymous until they arrive",
				zap.Error(err), zap.Duration("retry_in", retry))
			delay = retry
			retry = min(2*retry, s.t.retryMax)
		}
	}
}

// fetch runs one fetch and wakes the requests waiting for it.
func (s *jwksSource) fetch(ctx context.Context) (time.Duration, error) {
	s.mu.Lock()
	s.lastStart = time.Now()
	// Requests that asked before now wait for this fetch; those that ask
	// while it runs wait for the next one.
	done := s.done
	s.done = make(chan struct{})
	s.mu.Unlock()
	s.fetches.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.t.fetchTimeout)
	age, err := s.fetchKeys(ctx)
	cancel()
	s.mu.Lock()
	close(done)
	s.mu.Unlock()
	return age, err
}

func (s *jwksSource) fetchKeys(ctx context.Context) (time.Duration, error) {
	u := s.url
	if s.discovery {
		s.mu.Lock()
		u = s.jwksURL
		s.mu.Unlock()
		if u == "" {
			var err error
			if u, err = s.discover(ctx); err != nil {
				return 0, err
			}
		}
	}
	body, age, _, err := get(ctx, s.client, u)
	if err != nil {
		if s.discovery { // the issuer may have moved its keys: discover again next time
			s.mu.Lock()
			s.jwksURL = ""
			s.mu.Unlock()
		}
		return 0, err
	}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &set); err != nil {
		return 0, fmt.Errorf("GET %s: not a JWK Set: %w", u, err)
	}
	keys := make([]jwkset.JWK, 0, len(set.Keys))
	for _, m := range set.Keys {
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue // an unsupported or broken key does not spoil the others
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return 0, fmt.Errorf("GET %s: no usable public key in the JWK Set", u)
	}
	// Replacing (not merging) drops keys the provider revoked.
	if err := s.store.KeyReplaceAll(ctx, keys); err != nil {
		return 0, err
	}
	if !s.have.Swap(true) {
		s.logger.Info("identity_assertion: keys fetched", zap.String("url", u), zap.Int("keys", len(keys)))
	}
	s.readyOne.Do(func() { close(s.readyCh) })
	return age, nil
}

// discover reads the OpenID Provider Configuration of the issuer and returns
// its jwks_uri, after checking that the document names the same issuer
// (OpenID Connect Discovery 1.0, section 4.3) and that the URI is https.
func (s *jwksSource) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(s.issuer, "/") + "/.well-known/openid-configuration"
	body, _, _, err := get(ctx, s.client, u)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("GET %s: %w", u, err)
	}
	if doc.Issuer != s.issuer {
		return "", fmt.Errorf("GET %s: the document names issuer %q, not %q", u, doc.Issuer, s.issuer)
	}
	if err := checkKeyURL("jwks_uri", doc.JWKSURI); err != nil {
		return "", fmt.Errorf("GET %s: %w", u, err)
	}
	s.mu.Lock()
	s.jwksURL = doc.JWKSURI
	s.mu.Unlock()
	return doc.JWKSURI, nil
}
