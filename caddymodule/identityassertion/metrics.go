package identityassertion

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of one request, the values of the result label of
// caddy_identity_assertion_total.
const (
	resultValid            = "valid"             // verified; the identity is published
	resultAbsent           = "absent"            // no assertion on the request
	resultInvalidSignature = "invalid_signature" // wrong key, alg none, HMAC, a disallowed alg
	resultExpired          = "expired"           // exp passed (beyond leeway)
	resultNotYetValid      = "not_yet_valid"     // nbf or iat in the future (beyond leeway)
	resultWrongAudience    = "wrong_audience"    // aud missing or not configured
	resultWrongIssuer      = "wrong_issuer"      // iss missing or not the configured one
	resultWrongSigner      = "wrong_signer"      // aws_alb: signer not one of the configured ARNs
	resultUnknownKey       = "unknown_key"       // kid not among the provider's keys
	resultMalformed        = "malformed"         // not a JWT, no exp, no user claim, header repeated
	resultKeysUnavailable  = "keys_unavailable"  // no keys fetched yet (key server unreachable)
)

// allResults is every result, so that each series exists from the start.
var allResults = []string{resultValid, resultAbsent, resultInvalidSignature, resultExpired, resultNotYetValid,
	resultWrongAudience, resultWrongIssuer, resultWrongSigner, resultUnknownKey, resultMalformed, resultKeysUnavailable}

// metrics holds the counters resolved once per label value, so that the
// request path does no label lookup. The collectors are package-level:
// Caddy gives each config load a fresh registry, and registering the same
// collector again keeps the counts across reloads.
type metrics struct {
	results map[string]prometheus.Counter
}

var (
	metricsOnce sync.Once
	resultsVec  *prometheus.CounterVec
	allMetrics  metrics
)

func registerMetrics(reg *prometheus.Registry) (*metrics, error) {
	metricsOnce.Do(func() {
		resultsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "identity_assertion", Name: "total",
			Help: "Identity assertions seen by the identity_assertion handler, by result.",
		}, []string{"result"})
		allMetrics.results = make(map[string]prometheus.Counter, len(allResults))
		for _, r := range allResults {
			allMetrics.results[r] = resultsVec.WithLabelValues(r)
		}
	})
	if reg != nil {
		if err := reg.Register(resultsVec); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	return &allMetrics, nil
}

func (m *metrics) count(result string) {
	if m == nil {
		return
	}
	if c, ok := m.results[result]; ok {
		c.Inc()
	}
}
