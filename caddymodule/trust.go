package caddymodule

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// identitySource decides whether the request headers that carry identity can
// be believed. A header is something any client can send, so identity read
// from one is honoured only when a peer in the configured ranges sent it,
// and only as a single field line.
type identitySource struct {
	headers []string       // canonical names of the identity headers
	ranges  []netip.Prefix // peers allowed to send them
	private bool           // the ranges include private_ranges
	report  *forgeryReport // nil: count and log nothing (unit tests)
}

// identityValue is one configured identity value and the sub-directive it
// came from, so that an error can name it.
type identityValue struct {
	sub   string // "user_id", "attribute plan", "salesforce subject", …
	value string
}

// Prefixes of the placeholders that carry identity no client can forge.
const (
	// Set by Caddy's authentication handlers (basic_auth, the
	// identity_assertion handler): empty where none of them ran.
	authUserPrefix = "http.auth.user."
	// The response headers of a reverse_proxy (forward_auth) that ran earlier
	// in the route: empty where it did not run, whatever the client sent.
	reverseProxyHeaderPrefix = "http.reverse_proxy.header."
	// A client certificate verified by the TLS handshake.
	tlsClientPrefix = "http.request.tls.client."
	// A request header: only from peers named by `trust`.
	requestHeaderPrefix = "http.request.header."
)

// safeSources is the advice every refused placeholder ends with.
const safeSources = "use {http.auth.user.*} (basic_auth, identity_assertion), " +
	"{http.reverse_proxy.header.*} (a header of the forward_auth response), " +
	"{http.request.tls.client.*} (a verified client certificate), " +
	"or {http.request.header.*} with `trust` set to the proxies that set the header"

// refusedSources explain, by placeholder prefix, why a placeholder cannot
// carry identity. The first match wins; order longer prefixes first.
var refusedSources = []struct{ prefix, why string }{
	{"http.vars.", "a variable, which any matcher or handler may set from request data"},
	{"http.regexp.", "a regular-expression capture of request data the client sends"},
	{"http.request.uri", "part of the URL the client requests"},
	{"http.request.orig_uri", "part of the URL the client requests"},
	{"http.request.host", "the host name the client sends"},
	{"http.request.body", "the request body the client sends"},
	{"http.request.cookie.", "a cookie the client sends"},
	{"http.request.remote", "the client's network address, not a user"},
	{"http.request.tls.", "a property of the TLS connection, not a verified user"},
	{"http.request.", "request data the client controls"},
	{"http.reverse_proxy.", "not a response header of forward_auth"},
	{"http.auth.", "not a field of the authenticated user"},
	{"env.", "operator data, not a per-user identity: write the value literally"},
	{"file.", "operator data, not a per-user identity: write the value literally"},
	{"system.", "operator data, not a per-user identity: write the value literally"},
	{"time.", "not an identity"},
}

// shorthands expands the Caddyfile placeholder shorthands ({header.X},
// {re.…}, {host}, …) exactly as the Caddyfile adapter does, so that a value
// is judged by what it will read at request time.
var shorthands = httpcaddyfile.NewShorthandReplacer()

func expandShorthands(v string) string {
	seg := caddyfile.Segment{{Text: v}}
	shorthands.ApplyToSegment(&seg)
	return seg[0].Text
}

// placeholderKeys returns the keys of the placeholders in s as Caddy's
// replacer finds them (escaped braces are literal; an unclosed brace is
// text), so that what is checked is what will be replaced.
func placeholderKeys(s string) []string {
	var keys []string
scan:
	for i := 0; i < len(s); i++ {
		if i > 0 && s[i-1] == '\\' && (s[i] == '{' || s[i] == '}') {
			continue
		}
		if s[i] != '{' {
			continue
		}
		end := strings.IndexByte(s[i:], '}') + i
		if end < i {
			continue
		}
		for end > 0 && end < len(s)-1 && s[end-1] == '\\' {
			next := strings.IndexByte(s[end+1:], '}')
			if next < 0 {
				continue scan
			}
			end += next + 1
		}
		keys = append(keys, s[i+1:end])
		i = end
	}
	return keys
}

// checkIdentityValue checks every placeholder of one identity value against
// the allowlist, and returns the request headers it reads (which need
// `trust`). The error names the sub-directive, the placeholder and the safe
// sources.
func checkIdentityValue(v identityValue) (headers []string, err error) {
	for _, key := range placeholderKeys(expandShorthands(v.value)) {
		switch {
		case len(key) > len(reverseProxyHeaderPrefix) && strings.HasPrefix(key, reverseProxyHeaderPrefix):
			// reverse_proxy records its response headers under their
			// canonical names: any other spelling is always empty.
			name := key[len(reverseProxyHeaderPrefix):]
			if canonical := http.CanonicalHeaderKey(name); canonical != name {
				return nil, fmt.Errorf("%s: placeholder {%s} is always empty: Caddy records response headers "+
					"under their canonical names; write {%s%s}", v.sub, key, reverseProxyHeaderPrefix, canonical)
			}
		case len(key) > len(authUserPrefix) && strings.HasPrefix(key, authUserPrefix),
			len(key) > len(tlsClientPrefix) && strings.HasPrefix(key, tlsClientPrefix):
		case len(key) > len(requestHeaderPrefix) && strings.HasPrefix(key, requestHeaderPrefix):
			name := http.CanonicalHeaderKey(key[len(requestHeaderPrefix):])
			if !slices.Contains(headers, name) {
				headers = append(headers, name)
			}
		default:
			why := "not a source the intercom handler can vouch for"
			for _, r := range refusedSources {
				if strings.HasPrefix(key, r.prefix) {
					why = r.why
					break
				}
			}
			return nil, fmt.Errorf("%s: placeholder {%s} cannot carry identity: it is %s; %s", v.sub, key, why, safeSources)
		}
	}
	return headers, nil
}

// errTrustRoute explains why `trust route` is gone and what replaces it.
func errTrustRoute() error {
	return fmt.Errorf("trust route is no longer supported: it honoured a header that any client sends itself " +
		"wherever the handler meant to set it did not run (forward_auth /app/* leaves /page open); read the " +
		"forward_auth response instead, e.g. user_id {http.reverse_proxy.header.Remote-User}, which needs no trust " +
		"and is empty wherever forward_auth did not run; see {http.reverse_proxy.header.*} in the README")
}

// parseTrust parses one `trust` argument into ranges.
func parseTrust(t string) ([]netip.Prefix, error) {
	switch t {
	case "route":
		return nil, errTrustRoute()
	case "private_ranges":
		var out []netip.Prefix
		// Caddy's list mixes CIDRs and bare addresses (::1).
		for _, cidr := range caddyhttp.PrivateRangesCIDR() {
			p, err := parsePrefix(cidr)
			if err != nil {
				return nil, fmt.Errorf("trust: private_ranges: %w", err)
			}
			out = append(out, p)
		}
		return out, nil
	default:
		p, err := parsePrefix(t)
		if err != nil {
			return nil, fmt.Errorf("trust: %q is not a CIDR range, an IP address or private_ranges", t)
		}
		return []netip.Prefix{p}, nil
	}
}

// errHeaderNeedsTrust is the refusal of a request-header identity without
// `trust`.
func errHeaderNeedsTrust(sub, header string) error {
	return fmt.Errorf("%s: placeholder {%s%s} reads a request header, which any client can send; "+
		"trust: required — set `trust <cidr…>` (or private_ranges) to the proxies that set %s, "+
		"or, when forward_auth sets it, read its response with {%s%s} instead (no trust needed)",
		sub, requestHeaderPrefix, header, header, reverseProxyHeaderPrefix, header)
}

// newIdentitySource parses `trust` and checks the identity values against the
// allowlist, collecting the request headers they read.
func newIdentitySource(trust []string, values []identityValue) (identitySource, error) {
	var src identitySource
	for _, t := range trust {
		ranges, err := parseTrust(t)
		if err != nil {
			return src, err
		}
		src.ranges = append(src.ranges, ranges...)
		src.private = src.private || t == "private_ranges"
	}
	for _, v := range values {
		headers, err := checkIdentityValue(v)
		if err != nil {
			return src, err
		}
		for _, name := range headers {
			if len(src.ranges) == 0 {
				return src, errHeaderNeedsTrust(v.sub, name)
			}
			if !slices.Contains(src.headers, name) {
				src.headers = append(src.headers, name)
			}
		}
	}
	return src, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// honoured reports whether identity headers on r may be believed.
func (s identitySource) honoured(r *http.Request) bool {
	if len(s.headers) == 0 {
		return true
	}
	addr, ok := peerAddr(r)
	if !ok {
		return false
	}
	for _, p := range s.ranges {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func peerAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// strip deletes the identity headers so that neither we nor the upstream
// act on a forged value.
func (s identitySource) strip(h http.Header) {
	for _, name := range s.headers {
		h.Del(name)
	}
}

// screen removes identity headers that cannot be believed, before anything
// reads them: all of them when the peer is not trusted, and all of them when
// one arrives as more than one field line (which line would the upstream,
// or a placeholder, pick?). Each case is counted and logged, never with the
// header's value.
func (s identitySource) screen(r *http.Request) (seen bool, refused string) {
	if len(s.headers) == 0 {
		return false, ""
	}
	name := s.present(r.Header)
	if name == "" {
		return false, ""
	}
	if !s.honoured(r) {
		s.report.forged(reasonUntrustedPeer, r, name)
		s.strip(r.Header)
		return true, reasonUntrustedPeer
	}
	for _, name := range s.headers {
		if len(r.Header[name]) > 1 {
			s.report.forged(reasonDuplicateHeader, r, name)
			s.strip(r.Header)
			return true, reasonDuplicateHeader
		}
	}
	return true, ""
}

// present returns the name of the first identity header h carries.
func (s identitySource) present(h http.Header) string {
	for _, name := range s.headers {
		if _, ok := h[name]; ok {
			return name
		}
	}
	return ""
}

// Reasons an identity header was not believed: values of the reason label
// of caddy_intercom_forged_identity_total.
const (
	reasonUntrustedPeer   = "untrusted_peer"
	reasonDuplicateHeader = "duplicate_header"
)

// forgeryLogInterval is the least time between two warnings about refused
// identity headers: a client may send them on every request, and the log
// must not become its amplifier. Every event is still counted.
const forgeryLogInterval = time.Minute

// forgeryReport counts refused identity headers and logs them, rate-limited.
// It is shared by all requests of one handler; its state is atomic.
type forgeryReport struct {
	logger     *zap.Logger
	counters   map[string]prometheus.Counter // by reason
	next       atomic.Int64                  // unix nanos before which nothing is logged
	suppressed atomic.Int64                  // events not logged since the last warning
}

func newForgeryReport(logger *zap.Logger, m *trustMetrics, appID string) *forgeryReport {
	return &forgeryReport{
		logger: logger,
		counters: map[string]prometheus.Counter{
			reasonUntrustedPeer:   m.forged.WithLabelValues(appID, reasonUntrustedPeer),
			reasonDuplicateHeader: m.forged.WithLabelValues(appID, reasonDuplicateHeader),
		},
	}
}

// forged records one refused identity header: the peer's address and the
// header's name, never its value.
func (f *forgeryReport) forged(reason string, r *http.Request, header string) {
	if f == nil {
		return
	}
	f.counters[reason].Inc()
	now := time.Now().UnixNano()
	next := f.next.Load()
	if now < next || !f.next.CompareAndSwap(next, now+int64(forgeryLogInterval)) {
		f.suppressed.Add(1)
		return
	}
	msg := "identity header from an untrusted peer removed: the request is anonymous"
	if reason == reasonDuplicateHeader {
		msg = "identity header sent as more than one field line removed: the request is anonymous"
	}
	f.logger.Warn(msg,
		zap.String("peer", r.RemoteAddr),
		zap.String("header", header),
		zap.String("reason", reason),
		zap.Int64("suppressed_since_last", f.suppressed.Swap(0)),
		zap.Duration("next_warning_after", forgeryLogInterval))
}
