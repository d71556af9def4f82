package caddymodule

import (
	"sync"

	"github.com/caddy-intercom/caddy-intercom/internal/promreg"

	"github.com/prometheus/client_golang/prometheus"
)

// trustMetrics counts identity that the handler refused to believe. It lives
// apart from metrics.go so that the configuration work and the request-path
// work do not edit the same file; like those metrics it is package-level, so
// counts survive config reloads.
type trustMetrics struct {
	// caddy_intercom_forged_identity_total{app_id,reason}: identity request
	// headers removed because the peer is not trusted (untrusted_peer) or the
	// header came as more than one field line (duplicate_header).
	forged *prometheus.CounterVec
}

var (
	trustMetricsOnce sync.Once
	allTrustMetrics  trustMetrics
)

func registerTrustMetrics(reg *prometheus.Registry) (*trustMetrics, error) {
	trustMetricsOnce.Do(func() {
		allTrustMetrics = trustMetrics{
			forged: prometheus.NewCounterVec(prometheus.CounterOpts{
				Namespace: "caddy", Subsystem: "intercom", Name: "forged_identity_total",
				Help: "Identity request headers removed before use: sent by a peer outside `trust` (untrusted_peer) " +
					"or as more than one field line (duplicate_header).",
			}, []string{"app_id", "reason"}),
		}
	})
	return &allTrustMetrics, promreg.Register(reg, allTrustMetrics.forged)
}
