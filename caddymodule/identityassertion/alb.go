package identityassertion

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// albSource fetches AWS ALB keys: one PEM-encoded ECDSA P-256 public key per
// kid at <base>/<kid>, immutable, so each is cached for good (bounded).
// Fetches for kids not yet cached go through a token bucket, so a flood of
// made-up kids costs at most albBurst fetches and then one per albEvery.
type albSource struct {
	base    string
	client  *http.Client
	logger  *zap.Logger
	limiter *rate.Limiter
	fetches atomic.Int64

	mu       sync.Mutex
	keys     map[string]*ecdsa.PublicKey
	inflight map[string]chan struct{}
	down     bool // the last fetch failed for a reason other than "no such key"
}

// albKid is what an ALB kid looks like (a UUID); anything else never reaches
// a URL path.
var albKid = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

const maxALBKeys = 64

func newALBSource(base string, client *http.Client, t timing, logger *zap.Logger) *albSource {
	return &albSource{
		base:     strings.TrimSuffix(base, "/"),
		client:   client,
		logger:   logger,
		limiter:  rate.NewLimiter(rate.Every(t.albEvery), t.albBurst),
		keys:     make(map[string]*ecdsa.PublicKey),
		inflight: make(map[string]chan struct{}),
	}
}

func (s *albSource) start(context.Context)                         {}
func (s *albSource) waitReady(context.Context, time.Duration) bool { return true }
func (s *albSource) fetchCount() int64                             { return s.fetches.Load() }
func (s *albSource) key(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if !albKid.MatchString(kid) {
		return nil, fmt.Errorf("%w: kid missing or not a key id", jwt.ErrTokenMalformed)
	}
	for {
		s.mu.Lock()
		if k, ok := s.keys[kid]; ok {
			s.mu.Unlock()
			return k, nil
		}
		ch, busy := s.inflight[kid]
		if !busy {
			if !s.limiter.Allow() {
				down := s.down
				s.mu.Unlock()
				if down {
					return nil, errKeysUnavailable
				}
				return nil, errUnknownKey
			}
			ch = make(chan struct{})
			s.inflight[kid] = ch
			s.mu.Unlock()
			s.fetch(ctx, kid, ch)
			continue
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.mu.Lock()
		_, ok := s.keys[kid]
		down := s.down
		s.mu.Unlock()
		if !ok {
			if down {
				return nil, errKeysUnavailable
			}
			return nil, errUnknownKey
		}
	}
}

// fetch gets one kid's key; it runs detached from the request so that a
// client that goes away does not waste the fetch for the others.
func (s *albSource) fetch(ctx context.Context, kid string, ch chan struct{}) {
	s.fetches.Add(1)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.client.Timeout)
	defer cancel()
	body, _, status, err := get(fctx, s.client, s.base+"/"+kid)
	var key *ecdsa.PublicKey
	if err == nil {
		key, err = parseECPublicKey(body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, kid)
	close(ch)
	if err != nil {
		// 4xx: the key server answered, there is no such key.
		wasDown := s.down
		s.down = status < 400 || status >= 500
		if s.down && !wasDown {
			s.logger.Warn("identity_assertion: aws_alb key fetch failed", zap.String("kid", kid), zap.Error(err))
		}
		return
	}
	s.down = false
	if len(s.keys) >= maxALBKeys {
		for k := range s.keys { // evict one; ALB keys rotate rarely
			delete(s.keys, k)
			break
		}
	}
	s.keys[kid] = key
}

// parseECPublicKey reads the PEM public key an ALB key endpoint serves.
func parseECPublicKey(body []byte) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode(body)
	if block == nil {
		return nil, errors.New("aws_alb key: no PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("aws_alb key: %w", err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("aws_alb key: not an ECDSA key")
	}
	return k, nil
}
