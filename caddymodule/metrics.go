package caddymodule

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/internal/promreg"
)

// outcome is what became of one response that went through the handler:
// the value of the outcome label of caddy_intercom_responses_total. Below
// rewriterOutcomes it is an injector.Outcome (injected, fragment,
// no_injection_point: the rewriter's decision, named by Outcome.String);
// from there on it is decided by the handler before any rewriting.
type outcome uint8

const (
	rewriterOutcomes = 16 // room for every injector.Outcome

	outcomeAnonymous  outcome = rewriterOutcomes + iota - 1 // no identity, no session to clear
	outcomeNotHTML                                          // not a 200 HTML page
	outcomeEncoded                                          // has a Content-Encoding: passed through untouched
	outcomeError                                            // signing failed: the page is served untouched
	outcomeHead                                             // an identified HEAD: the page's header policy, no body
	outcomeHelpCenter                                       // proxied by intercom_help_center (routevars.HelpCenter): untouched
	numOutcomes
)

// handlerOutcomeNames are the label values of the handler-level outcomes.
var handlerOutcomeNames = [numOutcomes - rewriterOutcomes]string{
	outcomeAnonymous - rewriterOutcomes:  "anonymous",
	outcomeNotHTML - rewriterOutcomes:    "not_html",
	outcomeEncoded - rewriterOutcomes:    "encoded",
	outcomeError - rewriterOutcomes:      "error",
	outcomeHead - rewriterOutcomes:       "head",
	outcomeHelpCenter - rewriterOutcomes: "help_center",
}

// rewritten is the outcome the rewriter decided.
func rewritten(o injector.Outcome) outcome {
	if o >= rewriterOutcomes {
		return outcomeError // cannot happen: the rewriter has four outcomes
	}
	return outcome(o)
}

func (o outcome) String() string {
	if o < rewriterOutcomes {
		return injector.Outcome(o).String()
	}
	if o < numOutcomes {
		return handlerOutcomeNames[o-rewriterOutcomes]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// The collectors are package-level: Caddy hands every config load a fresh
// registry, and re-registering the same collectors keeps the counts across
// reloads. No label carries per-user data: app_id is configuration.
var (
	metricsOnce sync.Once
	collectors  struct {
		responses      *prometheus.CounterVec   // app_id, outcome
		sign           *prometheus.HistogramVec // app_id, token
		endpoint       *prometheus.CounterVec   // app_id, status
		jwks           prometheus.Counter
		reuse          *prometheus.CounterVec // result
		subjectMissing *prometheus.CounterVec // app_id
	}
)

func initCollectors() {
	metricsOnce.Do(func() {
		c := &collectors
		c.responses = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "intercom", Name: "responses_total",
			Help: "Responses seen by the intercom handler, by workspace and outcome.",
		}, []string{"app_id", "outcome"})
		c.sign = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "caddy", Subsystem: "intercom", Name: "sign_seconds",
			Help:    "Time spent signing one token, by workspace and token.",
			Buckets: []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01},
		}, []string{"app_id", "token"})
		c.endpoint = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "intercom", Name: "endpoint_requests_total",
			Help: "Requests answered by the token endpoint, by workspace and HTTP status.",
		}, []string{"app_id", "status"})
		c.jwks = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "intercom", Name: "jwks_requests_total",
			Help: "Requests answered by the Salesforce JWKS path.",
		})
		c.reuse = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "intercom", Name: "salesforce_reuse_total",
			Help: "Salesforce token reuse lookups (salesforce { reuse }), by result: hit or miss.",
		}, []string{"result"})
		c.subjectMissing = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "intercom", Name: "salesforce_subject_missing_total",
			Help: "Identified pages and endpoint answers without a Salesforce token because salesforce { subject } was empty.",
		}, []string{"app_id"})
	})
}

// endpointStatuses are the statuses the token endpoint answers with; their
// counters are resolved at provision.
var endpointStatuses = [...]int{
	http.StatusOK, http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed, http.StatusServiceUnavailable,
}

// handlerMetrics are one handler's metric children, resolved once at
// provision so that a request does no label lookup.
type handlerMetrics struct {
	responses      [numOutcomes]prometheus.Counter
	signIntercom   prometheus.Observer
	signSalesforce prometheus.Observer
	endpoint       [len(endpointStatuses)]prometheus.Counter
	endpointVec    *prometheus.CounterVec // for an unexpected status
	appID          string
	jwks           prometheus.Counter
	reuseHit       prometheus.Counter
	reuseMiss      prometheus.Counter
	subjectMissing prometheus.Counter
}

// newHandlerMetrics registers the collectors with reg and resolves the
// children for appID.
func newHandlerMetrics(reg *prometheus.Registry, appID string) (*handlerMetrics, error) {
	initCollectors()
	c := &collectors
	if err := promreg.Register(reg, c.responses, c.sign, c.endpoint, c.jwks, c.reuse, c.subjectMissing); err != nil {
		return nil, err
	}
	m := &handlerMetrics{
		signIntercom:   c.sign.WithLabelValues(appID, injector.TokenIntercom.String()),
		signSalesforce: c.sign.WithLabelValues(appID, injector.TokenSalesforce.String()),
		endpointVec:    c.endpoint,
		appID:          appID,
		jwks:           c.jwks,
		reuseHit:       c.reuse.WithLabelValues("hit"),
		reuseMiss:      c.reuse.WithLabelValues("miss"),
		subjectMissing: c.subjectMissing.WithLabelValues(appID),
	}
	for _, o := range []outcome{
		rewritten(injector.Injected), rewritten(injector.Fragment), rewritten(injector.NoInjectionPoint),
		outcomeAnonymous, outcomeNotHTML, outcomeEncoded, outcomeError, outcomeHead, outcomeHelpCenter,
	} {
		m.responses[o] = c.responses.WithLabelValues(appID, o.String())
	}
	for i, status := range endpointStatuses {
		m.endpoint[i] = c.endpoint.WithLabelValues(appID, strconv.Itoa(status))
	}
	return m, nil
}

// response counts one response.
func (m *handlerMetrics) response(o outcome) {
	if int(o) < len(m.responses) && m.responses[o] != nil {
		m.responses[o].Inc()
		return
	}
	collectors.responses.WithLabelValues(m.appID, o.String()).Inc()
}

// endpointAnswer counts one token endpoint answer.
func (m *handlerMetrics) endpointAnswer(status int) {
	for i, s := range endpointStatuses {
		if s == status {
			m.endpoint[i].Inc()
			return
		}
	}
	m.endpointVec.WithLabelValues(m.appID, strconv.Itoa(status)).Inc()
}

// signed observes one signature; it is the Tokens.Signed hook.
func (m *handlerMetrics) signed(kind injector.TokenKind, d time.Duration) {
	if kind == injector.TokenSalesforce {
		m.signSalesforce.Observe(d.Seconds())
		return
	}
	m.signIntercom.Observe(d.Seconds())
}

// reused counts one reuse lookup; it is the Tokens.Reused hook.
func (m *handlerMetrics) reused(hit bool) {
	if hit {
		m.reuseHit.Inc()
		return
	}
	m.reuseMiss.Inc()
}
