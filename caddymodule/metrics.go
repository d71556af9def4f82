package caddymodule

import (
	"sync"

	"github.com/caddy-intercom/caddy-intercom/internal/promreg"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a response that went through the intercom handler: the values
// of the outcome label of caddy_intercom_responses_total.
const (
	outcomeInjected         = "injected"
	outcomeAnonymous        = "anonymous"
	outcomeNotHTML          = "not_html" // not a 200 HTML page
	outcomeEncoded          = "encoded"  // a Content-Encoding we do not decode
	outcomeFragment         = "fragment"
	outcomeNoInjectionPoint = "no_injection_point"
	outcomeError            = "error"
	outcomeHelpCenter       = "help_center" // proxied by intercom_help_center (routevars.HelpCenter)
)

// Values of the token label of caddy_intercom_sign_seconds.
const (
	tokenIntercom   = "intercom"
	tokenSalesforce = "salesforce"
)

// metrics are package-level collectors: Caddy hands every config load a fresh
// registry, and re-registering the same collectors keeps the counts across
// reloads. No label carries per-user data.
type metrics struct {
	responses *prometheus.CounterVec
	sign      *prometheus.HistogramVec
}

var (
	metricsOnce sync.Once
	allMetrics  metrics
)

func registerMetrics(reg *prometheus.Registry) (*metrics, error) {
	metricsOnce.Do(func() {
		allMetrics = metrics{
			responses: prometheus.NewCounterVec(prometheus.CounterOpts{
				Namespace: "caddy", Subsystem: "intercom", Name: "responses_total",
				Help: "Identified and anonymous responses seen by the intercom handler, by outcome.",
			}, []string{"outcome"}),
			sign: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Namespace: "caddy", Subsystem: "intercom", Name: "sign_seconds",
				Help:    "Time spent signing one token.",
				Buckets: []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01},
			}, []string{"token"}),
		}
	})
	return &allMetrics, promreg.Register(reg, allMetrics.responses, allMetrics.sign)
}
