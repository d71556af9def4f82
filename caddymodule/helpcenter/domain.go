package helpcenter

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// normalizeAppDomain checks that app_domain is a host name under which cookies
// can be shared, and returns it in lower-case ASCII (punycode) with its
// registrable domain (eTLD+1 on the public suffix list, private section
// included, as browsers use it for cookies).
//
// A public suffix (co.uk, github.io) is rejected: no site can set a cookie
// there, so the Messenger's cookies could never reach another host.
func normalizeAppDomain(raw string) (host, site string, err error) {
	notHost := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("app_domain: %q is not a host name (%s); give just the host of your app, for example app.example.com", raw, why)
	}
	if strings.ContainsAny(raw, "/:@?#[] \t") {
		return notHost("no scheme, port, path or brackets")
	}
	if _, err := netip.ParseAddr(raw); err == nil {
		return notHost("an IP address cannot share cookies with other hosts")
	}
	host, err = idna.Lookup.ToASCII(strings.TrimSuffix(raw, "."))
	if err != nil {
		return notHost(err.Error())
	}
	host = strings.ToLower(host)
	if !isHostName(host) {
		return notHost("labels of letters, digits and hyphens, at most 63 characters each")
	}
	site, err = publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return "", "", fmt.Errorf("app_domain: %q is a public suffix (like co.uk or github.io), under which no cookie can be shared between hosts; set it to your app's own host name, for example app.example.com", raw)
	}
	return host, site, nil
}

// isHostName reports whether s is a syntactically valid lower-case ASCII DNS
// host name (LDH labels).
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// maxCheckedHosts bounds the memory of the run-time domain check:
// with a catch-all site the Host header is client-controlled.
const maxCheckedHosts = 1024

// hostChecker compares each distinct request host with app_domain
// once. A Caddyfile directive cannot see its site's addresses, so this is
// the only place a Help Center on the wrong domain (help.example.org for an
// app on app.example.com) can be detected. After the first request for a
// host, a check is one lock-free map lookup.
type hostChecker struct {
	appDomain  string
	appSite    string
	logger     *zap.Logger
	mismatches prometheus.Counter

	seen  sync.Map     // normalised host -> struct{}
	count atomic.Int64 // entries in seen
	full  atomic.Bool  // the limit was reached and reported
}

func newHostChecker(appDomain, appSite string, logger *zap.Logger, mismatches prometheus.Counter) *hostChecker {
	return &hostChecker{appDomain: appDomain, appSite: appSite, logger: logger, mismatches: mismatches}
}

// check records hostport (a request's Host) and, the first time a host is
// seen, warns when it cannot receive the Messenger's cookies.
func (c *hostChecker) check(hostport string) {
	host := requestHost(hostport)
	if host == "" {
		return
	}
	if _, ok := c.seen.Load(host); ok {
		return
	}
	if c.count.Add(1) > maxCheckedHosts {
		c.count.Add(-1)
		if c.full.CompareAndSwap(false, true) {
			c.logger.Warn("Help Center domain check stopped recording new hosts",
				zap.Int("limit", maxCheckedHosts),
				zap.String("app_domain", c.appDomain))
		}
		return
	}
	if _, loaded := c.seen.LoadOrStore(host, struct{}{}); loaded {
		c.count.Add(-1) // another request for the same host won the race
		return
	}
	c.evaluate(host)
}

// evaluate logs and counts host when it is not under app_domain's
// registrable domain. IP addresses and loopback names (localhost and
// *.localhost, RFC 6761) are recorded silently: reaching the Help Center
// that way, as the offline demo does, is not a configuration mistake.
func (c *hostChecker) evaluate(host string) {
	if _, err := netip.ParseAddr(host); err == nil {
		return
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return
	}
	site, err := publicsuffix.EffectiveTLDPlusOne(host)
	var reason string
	switch {
	case err != nil:
		reason = fmt.Sprintf("%s is itself a public suffix, where no cookie can be shared; "+
			"the Messenger sets its intercom-* cookies on %s (the registrable domain of app_domain %s), so browsers never send them here; "+
			"serve the Help Center on a host under %s, for example help.%s",
			host, c.appSite, c.appDomain, c.appSite, c.appSite)
	case site != c.appSite:
		reason = fmt.Sprintf("the Messenger sets its intercom-* cookies on %s (the registrable domain of app_domain %s), "+
			"so browsers never send them to %s (registrable domain %s); serve the Help Center on a host under %s, for example help.%s",
			c.appSite, c.appDomain, host, site, c.appSite, c.appSite)
	default:
		return
	}
	c.mismatches.Inc()
	c.logger.Warn("Help Center host does not share a registrable domain with app_domain: signed-in users will not be recognised",
		zap.String("host", host),
		zap.String("host_registrable_domain", site),
		zap.String("app_domain", c.appDomain),
		zap.String("app_registrable_domain", c.appSite),
		zap.String("reason", reason))
}

// requestHost returns the host of a Host header value without port or
// trailing dot, lower-cased. It allocates only when the host has upper-case
// letters, so the per-request path stays allocation-free.
func requestHost(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") { // [IPv6]:port
		if end := strings.IndexByte(h, ']'); end > 0 {
			return strings.ToLower(h[1:end])
		}
		return ""
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h)
}
