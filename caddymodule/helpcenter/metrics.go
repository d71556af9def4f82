package helpcenter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-intercom/caddy-intercom/internal/promreg"
)

// domainMismatches counts Help Center hosts whose registrable domain
// differs from app_domain's. It has no labels: hosts come from the Host
// header, and a per-host label would let clients grow the series set.
//
// It is a package-level collector because Caddy hands out a new registry on
// every config load; the same collector is registered with each, so the
// count survives reloads (each reload checks its hosts afresh, so a
// persistent mismatch is counted again after a reload).
var domainMismatches = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "caddy",
	Subsystem: "intercom",
	Name:      "help_center_domain_mismatch_total",
	Help:      "Help Center hosts seen whose registrable domain differs from app_domain's, so signed-in users cannot be recognised there (once per host per config load).",
})

// registerMetrics registers the Help Center collectors with reg
// (config reloads and several handlers register them again).
func registerMetrics(reg *prometheus.Registry) error {
	return promreg.Register(reg, domainMismatches)
}
