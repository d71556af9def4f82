package helpcenter

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"

	"github.com/caddy-intercom/caddy-intercom/internal/routevars"
)

func init() {
	caddy.RegisterModule(HelpCenter{})
	httpcaddyfile.RegisterHandlerDirective("intercom_help_center", parseCaddyfile)
	// The handler answers every request itself (it is a proxy), so it has to
	// run where reverse_proxy would, after auth/header/rewrite directives.
	httpcaddyfile.RegisterDirectiveOrder("intercom_help_center", httpcaddyfile.Before, "reverse_proxy")
}

// Help Center regions and their Intercom custom-domain origins: the CNAME
// targets Intercom documents for the manual and own-TLS setups.
var regionOrigins = map[string]string{
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
//
// It also keeps the two sites apart in the other ways a shared domain
// allows: the user's credentials for the app (Authorization,
// Proxy-Authorization, and the strip_headers) never reach Intercom; of the
// origin's Set-Cookie lines only host-only and intercom-* cookies reach the
// browser, so Intercom cannot replace the app's cookies; and an intercom
// handler in the same route leaves the Help Center's pages alone
// (routevars.HelpCenter).
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

	// StripHeaders names request headers removed before the request goes
	// to Intercom, besides Authorization and Proxy-Authorization, which
	// never go: typically the identity headers a forward_auth copies into
	// the request (Remote-User, Remote-Email). Exact names, case-insensitive.
	StripHeaders []string `json:"strip_headers,omitempty"`

	originName string // origin URL as named in errors
	forwardAll bool
	hosts      *hostChecker
	cookies    *droppedCookies
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

// settings is the checked and normalised form of the configuration.
type settings struct {
	origin     *url.URL
	appDomain  string // lower-case ASCII host name
	appSite    string // its registrable domain (eTLD+1)
	forwardAll bool
}

// settings checks every field and returns the values the handler runs with.
// Each error names the sub-directive (and JSON field) it is about.
func (h *HelpCenter) settings() (settings, error) {
	var s settings
	var err error

	var fromRegion string
	if h.Region != "" {
		if fromRegion, err = regionOrigin(h.Region); err != nil {
			return s, err
		}
	}
	switch {
	case h.Origin != "":
		if s.origin, err = parseOrigin(h.Origin); err != nil {
			return s, err
		}
	case fromRegion != "":
		s.origin, _ = url.Parse(fromRegion)
	default:
		return s, errors.New(`region or origin is required: region us, eu or au selects Intercom's custom-domain origin for your workspace's data-hosting region`)
	}

	if h.AppDomain == "" {
		return s, errors.New("app_domain is required: the host name of your app where the Intercom Messenger runs (for example app.example.com), so that a Help Center host which cannot receive the Messenger's cookies is reported")
	}
	if s.appDomain, s.appSite, err = normalizeAppDomain(h.AppDomain); err != nil {
		return s, err
	}

	if s.forwardAll, err = parseForwardCookies(h.ForwardCookies); err != nil {
		return s, err
	}

	if h.OriginCA != "" && s.origin.Scheme != "https" {
		return s, fmt.Errorf("origin_ca: only applies to an https:// origin, not %s", s.origin)
	}
	for _, name := range h.StripHeaders {
		if err := checkStripHeader(name); err != nil {
			return s, err
		}
	}
	return s, nil
}

// credentialHeaders never reach the Help Center origin. Behind basic_auth
// the browser sends the user's app password in Authorization on every
// request to the site, the Help Center's subpath included; Intercom has no
// use for either header.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization"}

// checkStripHeader accepts a strip_headers name: a header field name, not a
// pattern, and not one the Help Center cannot work without.
func checkStripHeader(name string) error {
	if !httpguts.ValidHeaderFieldName(name) || strings.Contains(name, "*") {
		return fmt.Errorf("strip_headers: %q is not a header name (exact names only, no wildcards or placeholders)", name)
	}
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "Host":
		return errors.New("strip_headers: Host cannot be stripped: Intercom picks the Help Center by the Host the browser used")
	case "Cookie":
		return errors.New("strip_headers: Cookie cannot be stripped here: forward_cookies decides which cookies reach Intercom (only intercom-* by default)")
	}
	return nil
}

// regionOrigin maps a region to Intercom's custom-domain origin.
func regionOrigin(region string) (string, error) {
	o, ok := regionOrigins[region]
	if !ok {
		return "", fmt.Errorf("region: unknown region %q: want us, eu or au", region)
	}
	return o, nil
}

// parseOrigin accepts only scheme://host[:port][/]: the browser's
// path and query are forwarded as they are, so a base path on the origin
// would silently change every URL.
func parseOrigin(raw string) (*url.URL, error) {
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

// parseForwardCookies reports whether all cookies are forwarded.
func parseForwardCookies(v string) (all bool, err error) {
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
		if caCerts, err = readOriginCA(h.OriginCA); err != nil {
			return err
		}
	}

	h.logger = ctx.Logger()
	h.originName = s.origin.String()
	h.forwardAll = s.forwardAll
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		if err := registerMetrics(reg); err != nil {
			return err
		}
	}
	h.hosts = newHostChecker(s.appDomain, s.appSite, h.logger, domainMismatches)
	h.cookies = &droppedCookies{logger: h.logger}

	rp := newProxy(s.origin, caCerts, h.StripHeaders)
	if err := rp.Provision(ctx); err != nil {
		// Not cleaned up: its Cleanup would release upstream hosts that a
		// failed Provision may never have acquired. The transport module it
		// loaded belongs to ctx, which cleans it up.
		return fmt.Errorf("provisioning the proxy to origin %s: %v", h.originName, err)
	}
	h.proxy = rp
	return nil
}

// newProxy builds the reverse_proxy configuration for origin; strip names
// request headers removed besides credentialHeaders.
func newProxy(origin *url.URL, caCerts []string, strip []string) *reverseproxy.Handler {
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
				// Applied to reverse_proxy's copy of the request, so the
				// handlers and logs around us still see the original.
				Delete: stripList(strip),
			},
		},
	}
}

// stripList returns credentialHeaders followed by the canonical form of each
// name of strip not already listed.
func stripList(strip []string) []string {
	list := append([]string(nil), credentialHeaders...)
	for _, name := range strip {
		name = textproto.CanonicalMIMEHeaderKey(name)
		if !slices.Contains(list, name) {
			list = append(list, name)
		}
	}
	return list
}

// readOriginCA loads the origin_ca PEM file as base64 DER certificates, the
// form Caddy's inline CA pool takes, failing when it holds no certificate.
func readOriginCA(path string) ([]string, error) {
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
// drops non-Intercom cookies unless forward_cookies is all, marks the
// request as the Help Center's (so that an intercom handler in the same
// route leaves the response alone), and proxies. The proxy removes the
// credential and strip_headers headers from its copy of the request; the
// origin's Set-Cookie lines are filtered on the way back.
func (h *HelpCenter) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	h.hosts.check(r.Host)
	routevars.MarkHelpCenter(r.Context())

	if !h.forwardAll {
		if lines, ok := r.Header["Cookie"]; ok {
			if kept, changed := filterIntercomCookies(lines); changed {
				r = withCookies(r, kept)
			}
		}
	}

	fw := &cookieFilterWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, cookies: h.cookies}
	err := h.proxy.ServeHTTP(fw, r, next)
	fw.finish()
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

// withCookies returns a shallow copy of r whose Cookie header is kept
// (deleted when empty). The header map is copied, not mutated: r and its
// header are shared with the rest of the middleware chain and the logs.
func withCookies(r *http.Request, kept string) *http.Request {
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
