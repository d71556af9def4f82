package helpcenter

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(HelpCenter{})
	httpcaddyfile.RegisterHandlerDirective("intercom_help_center", parseHelpCenterCaddyfile)
	// The handler answers every request itself (it is a proxy), so it has to
	// run where reverse_proxy would, after auth/header/rewrite directives.
	httpcaddyfile.RegisterDirectiveOrder("intercom_help_center", httpcaddyfile.Before, "reverse_proxy")
}

// Help Center regions and their Intercom custom-domain origins: the CNAME
// targets Intercom documents for the manual and own-TLS setups.
var helpCenterRegionOrigins = map[string]string{
	"us": "https://custom.intercom.help",
	"eu": "https://custom.eu.intercom.help",
	"au": "https://custom.au.intercom.help",
}

// Values of HelpCenter.ForwardCookies (forward_cookies).
const (
	// HelpCenterCookiesIntercom, the default, forwards only the Messenger's
	// intercom-* cookies: everything else on the registrable domain (the
	// app's session cookie, analytics) is none of Intercom's business.
	HelpCenterCookiesIntercom = "intercom"
	// HelpCenterCookiesAll forwards the Cookie header unchanged, as
	// Intercom's CloudFront recipe does; only for sites whose other cookies
	// may be shared with Intercom.
	HelpCenterCookiesAll = "all"
)

// HelpCenter serves an Intercom Help Center / Tickets Portal on the site's own
// domain (help.example.com) by proxying to Intercom's custom-domain origin.
//
// Intercom recognises a signed-in user there only when the browser sends the
// Messenger's intercom-* cookies, which it does only if the Help Center host
// shares the registrable domain of the app where the Messenger runs, and only
// if the proxy forwards the Host the browser used, the query string and those
// cookies. HelpCenter gets those details right using Caddy's own reverse_proxy
// (built and provisioned internally), and by default forwards only the
// intercom-* cookies so the app's own session cookie is never handed to a
// third party.
type HelpCenter struct {
	// Intercom data-hosting region of the workspace: "us", "eu" or "au".
	// It selects the origin https://custom.intercom.help,
	// https://custom.eu.intercom.help or https://custom.au.intercom.help.
	// Either region or origin is required: a wrong guess would send EU or
	// AU users' cookies to another region's infrastructure.
	Region string `json:"region,omitempty"`

	// Origin overrides region with an explicit https:// or http:// URL
	// without path or query: an HTTPS quick-setup host
	// (https://eu.intercomhelpcenter.com), an egress proxy that terminates
	// TLS, or a test origin.
	Origin string `json:"origin,omitempty"`

	// AppDomain is the host of the web app where the Messenger runs
	// (app.example.com). Required. The Messenger sets its cookies on the
	// app's registrable domain, so the Help Center must be served under that
	// same registrable domain; each request host is checked once against it
	// and a mismatch is logged and counted.
	AppDomain string `json:"app_domain,omitempty"`

	// ForwardCookies selects which request cookies reach Intercom:
	// "intercom" (default) forwards only cookies whose names start with
	// "intercom-"; "all" forwards the Cookie header unchanged.
	ForwardCookies string `json:"forward_cookies,omitempty"`

	// OriginCA is a PEM file of CA certificates that replaces the system
	// roots when verifying an https origin. Only for private or test
	// origins; Intercom's origins chain to public roots.
	OriginCA string `json:"origin_ca,omitempty"`

	originName string // origin URL as named in errors
	forwardAll bool
	hosts      *helpCenterHostChecker
	proxy      caddyhttp.MiddlewareHandler // a provisioned *reverseproxy.Handler
	logger     *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (HelpCenter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.intercom_help_center",
		New: func() caddy.Module { return new(HelpCenter) },
	}
}

// helpCenterSettings is the checked and normalised form of the configuration.
type helpCenterSettings struct {
	origin     *url.URL
	appDomain  string // lower-case ASCII host name
	appSite    string // its registrable domain (eTLD+1)
	forwardAll bool
}

// settings checks every field and returns the values the handler runs with.
// Each error names the sub-directive (and JSON field) it is about.
func (h *HelpCenter) settings() (helpCenterSettings, error) {
	var s helpCenterSettings
	var err error

	var regionOrigin string
	if h.Region != "" {
		if regionOrigin, err = helpCenterRegionOrigin(h.Region); err != nil {
			return s, err
		}
	}
	switch {
	case h.Origin != "":
		if s.origin, err = parseHelpCenterOrigin(h.Origin); err != nil {
			return s, err
		}
	case regionOrigin != "":
		s.origin, _ = url.Parse(regionOrigin)
	default:
		return s, errors.New(`region or origin is required: region us, eu or au selects Intercom's custom-domain origin for your workspace's data-hosting region`)
	}

	if h.AppDomain == "" {
		return s, errors.New("app_domain is required: the host name of your app where the Intercom Messenger runs (for example app.example.com), so that a Help Center host which cannot receive the Messenger's cookies is reported")
	}
	if s.appDomain, s.appSite, err = normalizeHelpCenterAppDomain(h.AppDomain); err != nil {
		return s, err
	}

	if s.forwardAll, err = parseHelpCenterForwardCookies(h.ForwardCookies); err != nil {
		return s, err
	}

	if h.OriginCA != "" && s.origin.Scheme != "https" {
		return s, fmt.Errorf("origin_ca: only applies to an https:// origin, not %s", s.origin)
	}
	return s, nil
}

// helpCenterRegionOrigin maps a region to Intercom's custom-domain origin.
func helpCenterRegionOrigin(region string) (string, error) {
	o, ok := helpCenterRegionOrigins[region]
	if !ok {
		return "", fmt.Errorf("region: unknown region %q: want us, eu or au", region)
	}
	return o, nil
}

// parseHelpCenterOrigin accepts only scheme://host[:port][/]: the browser's
// path and query are forwarded as they are, so a base path on the origin
// would silently change every URL.
func parseHelpCenterOrigin(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("origin: %q is not a valid URL: %v", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("origin: %q must start with https:// (or http:// for a test origin or a TLS-terminating egress proxy)", raw)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, fmt.Errorf("origin: %q has no host name", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("origin: %q must not contain user information", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("origin: %q must be only scheme, host and port, without path, query or fragment (the request's own path and query are forwarded)", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("origin: %q has an invalid port", raw)
		}
	}
	u.Path = ""
	return u, nil
}

// parseHelpCenterForwardCookies reports whether all cookies are forwarded.
func parseHelpCenterForwardCookies(v string) (all bool, err error) {
	switch v {
	case "", HelpCenterCookiesIntercom:
		return false, nil
	case HelpCenterCookiesAll:
		return true, nil
	}
	return false, fmt.Errorf("forward_cookies: unknown value %q: want intercom (only intercom-* cookies, the default) or all", v)
}

// Validate checks the configuration without side effects. Provision runs the
// same checks, since it needs their results to build the proxy.
func (h *HelpCenter) Validate() error {
	_, err := h.settings()
	return err
}

// Provision checks the configuration, then builds and provisions the
// reverse_proxy handler that talks to the origin.
func (h *HelpCenter) Provision(ctx caddy.Context) error {
	s, err := h.settings()
	if err != nil {
		return err
	}
	var caCerts []string
	if h.OriginCA != "" {
		if caCerts, err = readHelpCenterOriginCA(h.OriginCA); err != nil {
			return err
		}
	}

	h.logger = ctx.Logger()
	h.originName = s.origin.String()
	h.forwardAll = s.forwardAll
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		if err := registerHelpCenterMetrics(reg); err != nil {
			return err
		}
	}
	h.hosts = newHelpCenterHostChecker(s.appDomain, s.appSite, h.logger, helpCenterDomainMismatches)

	rp := newHelpCenterProxy(s.origin, caCerts)
	if err := rp.Provision(ctx); err != nil {
		// Not cleaned up: its Cleanup would release upstream hosts that a
		// failed Provision may never have acquired. The transport module it
		// loaded belongs to ctx, which cleans it up.
		return fmt.Errorf("provisioning the proxy to origin %s: %v", h.originName, err)
	}
	h.proxy = rp
	return nil
}

// newHelpCenterProxy builds the reverse_proxy configuration for origin.
func newHelpCenterProxy(origin *url.URL, caCerts []string) *reverseproxy.Handler {
	port := origin.Port()
	if port == "" {
		port = "443"
		if origin.Scheme == "http" {
			port = "80"
		}
	}

	transport := reverseproxy.HTTPTransport{}
	if origin.Scheme == "https" {
		// SNI and certificate verification use the origin's name, never the
		// custom domain sent as Host (Intercom serves many custom domains
		// from the same origin).
		transport.TLS = &reverseproxy.TLSConfig{ServerName: origin.Hostname()}
		if len(caCerts) > 0 {
			transport.TLS.CARaw = caddyconfig.JSONModuleObject(
				caddytls.InlineCAPool{TrustedCACerts: caCerts}, "provider", "inline", nil)
		}
	}

	return &reverseproxy.Handler{
		TransportRaw: caddyconfig.JSONModuleObject(transport, "protocol", "http", nil),
		Upstreams:    reverseproxy.UpstreamPool{{Dial: net.JoinHostPort(origin.Hostname(), port)}},
		Headers: &headers.Handler{
			Request: &headers.HeaderOps{
				// Intercom picks the Help Center by the Host header. For TLS
				// upstreams Caddy's transport otherwise sets Host to the
				// upstream address (custom.intercom.help), so restore the
				// host the browser used (without port, as nginx's $host in
				// Intercom's own example). The original Host:port still goes
				// up as X-Forwarded-Host.
				Set: http.Header{"Host": []string{"{http.request.host}"}},
			},
		},
	}
}

// readHelpCenterOriginCA loads the origin_ca PEM file as base64 DER certificates, the
// form Caddy's inline CA pool takes, failing when it holds no certificate.
func readHelpCenterOriginCA(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("origin_ca: %v", err)
	}
	var certs []string
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("origin_ca: %s: %v", path, err)
		}
		certs = append(certs, base64.StdEncoding.EncodeToString(block.Bytes))
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("origin_ca: %s contains no PEM CERTIFICATE block", path)
	}
	return certs, nil
}

// Cleanup releases the proxy's resources (upstream host entries, open
// upgraded connections).
func (h *HelpCenter) Cleanup() error {
	if c, ok := h.proxy.(caddy.CleanerUpper); ok {
		return c.Cleanup()
	}
	return nil
}

// ServeHTTP checks the request host against app_domain (once per host),
// drops non-Intercom cookies unless forward_cookies is all, and proxies.
func (h *HelpCenter) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	h.hosts.check(r.Host)

	if !h.forwardAll {
		if lines, ok := r.Header["Cookie"]; ok {
			if kept, changed := filterIntercomCookies(lines); changed {
				r = withHelpCenterCookies(r, kept)
			}
		}
	}

	err := h.proxy.ServeHTTP(w, r, next)
	if err == nil {
		return nil
	}
	// Name the origin in the error Caddy logs: the proxy's own error names
	// only the dial address or its IP.
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode >= 500 {
		he.Err = fmt.Errorf("intercom_help_center: origin %s: %w", h.originName, he.Err)
		return he
	}
	return err
}

// withHelpCenterCookies returns a shallow copy of r whose Cookie header is kept
// (deleted when empty). The header map is copied, not mutated: r and its
// header are shared with the rest of the middleware chain and the logs.
func withHelpCenterCookies(r *http.Request, kept string) *http.Request {
	hdr := make(http.Header, len(r.Header))
	for k, v := range r.Header {
		hdr[k] = v
	}
	if kept == "" {
		delete(hdr, "Cookie")
	} else {
		hdr["Cookie"] = []string{kept}
	}
	r2 := r.WithContext(r.Context())
	r2.Header = hdr
	return r2
}

// Interface guards.
var (
	_ caddy.Module                = (*HelpCenter)(nil)
	_ caddy.Provisioner           = (*HelpCenter)(nil)
	_ caddy.Validator             = (*HelpCenter)(nil)
	_ caddy.CleanerUpper          = (*HelpCenter)(nil)
	_ caddyhttp.MiddlewareHandler = (*HelpCenter)(nil)
)
