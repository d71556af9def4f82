package injector

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The page policy: which responses are pages we inject into, and what an
// injected page's response headers become. It is the last step before the
// first body byte goes out (the Rewriter's Decide), so every header that
// depends on the injection is decided here, in one place, top-down:
//
//  1. body length: Content-Length grows by the injected bytes;
//  2. validators: ETag, Last-Modified and Accept-Ranges described the
//     upstream's body, not ours, and a 304 or a range must never hand one
//     user's page to another;
//  3. storage: no cache layer may keep the page (it carries one user's
//     token): the browser, a shared proxy, a CDN or nginx;
//  4. Content-Security-Policy: our script is allowed by nonce or hash;
//  5. cookies: the session-hygiene decision (see SessionMarker.Decide).

// IsHTML reports whether a response's Content-Type is an HTML page, as
// mime.ParseMediaType would tell: text/html or application/xhtml+xml with
// valid parameters. It runs for every identified GET, assets included, so
// the common cases skip ParseMediaType, which allocates a map per call: a
// media type other than HTML, and HTML with no parameter or only
// charset=utf-8.
func IsHTML(contentType string) bool {
	base, params, _ := strings.Cut(contentType, ";")
	base = strings.TrimSpace(base)
	if !EqualFoldASCII(base, "text/html") && !EqualFoldASCII(base, "application/xhtml+xml") {
		return false
	}
	if params = strings.TrimSpace(params); params == "" || EqualFoldASCII(params, "charset=utf-8") {
		return true
	}
	_, _, err := mime.ParseMediaType(contentType)
	return err == nil
}

// Page is an injected page as far as its response headers are concerned.
// The zero CSP leaves the page's policies as they are.
type Page struct {
	// Added is the number of bytes the injection adds to the body. A
	// negative value means unknown (the answer to a HEAD, which carries no
	// body): Content-Length is then removed.
	Added int
	// CSP is the plan that lets our script run under the page's policies.
	CSP CSPPlan
	// Hygiene is the session decision for this page.
	Hygiene Hygiene
	// AppID names the Messenger's session cookie, Host (the request's)
	// gives its Domain, and Secure (the request came over TLS) makes the
	// marker cookie Secure.
	AppID, Host string
	Secure      bool
}

// Apply edits hdr, the response headers of the page, in place.
func (p *Page) Apply(hdr http.Header) {
	// One backing array for every constant value set below, instead of one
	// small slice per header. Never a shared package-level slice: a later
	// handler may edit header values in place.
	fixed := new([6]string)
	p.setLength(hdr, fixed)
	removeValidators(hdr)
	forbidStorage(hdr, fixed)
	p.setCSP(hdr)
	p.setCookies(hdr)
}

// setLength makes Content-Length describe the body we send.
func (p *Page) setLength(hdr http.Header, fixed *[6]string) {
	cl := hdr["Content-Length"]
	if len(cl) == 0 {
		return
	}
	n, err := strconv.ParseInt(cl[0], 10, 64)
	if p.Added < 0 || len(cl) != 1 || err != nil || n < 0 {
		delete(hdr, "Content-Length")
		return
	}
	fixed[4] = strconv.FormatInt(n+int64(p.Added), 10)
	hdr["Content-Length"] = fixed[4:5:5]
}

// removeValidators deletes the headers that let a client revalidate or
// resume the upstream's body, which is not the body we send.
func removeValidators(hdr http.Header) {
	delete(hdr, "Etag")
	delete(hdr, "Last-Modified")
	delete(hdr, "Accept-Ranges")
}

// forbidStorage marks a page as storable by no cache at all:
//
//   - Cache-Control: private, no-store for browsers and shared caches;
//   - Surrogate-Control: no-store (Fastly, Varnish, Akamai),
//     CDN-Cache-Control: no-store (RFC 9213) and X-Accel-Expires: 0
//     (nginx), which such caches obey before Cache-Control, so an upstream's
//     value there would otherwise win;
//   - every other *-CDN-Cache-Control (Cloudflare-CDN-Cache-Control, …)
//     deleted, as targeted variants of the same;
//   - Expires deleted (it only ever grants freshness);
//   - Cookie added to Vary, for a cache that ignores the rest.
//
// fixed, when not nil, provides the backing store for the constant values
// (see Apply); all but its fifth element (Content-Length's) are used.
func forbidStorage(hdr http.Header, fixed *[6]string) {
	if fixed == nil {
		fixed = new([6]string)
	}
	fixed[0], fixed[1], fixed[2], fixed[3] = "private, no-store", "no-store", "no-store", "0"
	for name := range hdr {
		if name != "Cdn-Cache-Control" && hasSuffixFoldASCII(name, "Cdn-Cache-Control") {
			delete(hdr, name)
		}
	}
	hdr["Cache-Control"] = fixed[0:1:1]
	hdr["Surrogate-Control"] = fixed[1:2:2]
	hdr["Cdn-Cache-Control"] = fixed[2:3:3]
	hdr["X-Accel-Expires"] = fixed[3:4:4]
	delete(hdr, "Expires")
	varyCookie(hdr, fixed)
}

// varyCookie adds Cookie to Vary unless it is there already (or Vary is
// "*"), merging every Vary line into one.
func varyCookie(hdr http.Header, fixed *[6]string) {
	lines := hdr["Vary"]
	if len(lines) == 0 {
		fixed[5] = "Cookie"
		hdr["Vary"] = fixed[5:6:6]
		return
	}
	for _, line := range lines {
		for field := range strings.SplitSeq(line, ",") {
			field = strings.TrimSpace(field)
			if field == "*" || EqualFoldASCII(field, "Cookie") {
				return
			}
		}
	}
	var b strings.Builder
	for _, line := range lines {
		if line = strings.TrimSpace(line); line != "" {
			b.WriteString(line)
			b.WriteString(", ")
		}
	}
	b.WriteString("Cookie")
	hdr["Vary"] = []string{b.String()}
}

// setCSP puts the planned policies in place of the page's.
func (p *Page) setCSP(hdr http.Header) {
	if !p.CSP.Changed {
		return
	}
	if len(p.CSP.Enforced) > 0 {
		hdr["Content-Security-Policy"] = p.CSP.Enforced
	}
	if len(p.CSP.ReportOnly) > 0 {
		hdr["Content-Security-Policy-Report-Only"] = p.CSP.ReportOnly
	}
}

// markerLifetime outlives Intercom's one-week session cookie, so a marker
// is there whenever a session is.
const markerLifetime = 30 * 24 * time.Hour

// The fixed parts of the marker cookie, in the form http.Cookie.String
// writes them, built once.
var (
	markerAttrs       = "; Path=/; Max-Age=" + strconv.Itoa(int(markerLifetime/time.Second)) + "; HttpOnly; SameSite=Lax"
	markerAttrsSecure = "; Path=/; Max-Age=" + strconv.Itoa(int(markerLifetime/time.Second)) + "; HttpOnly; Secure; SameSite=Lax"
	markerExpired     = MarkerCookie + "=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax"
	markerExpiredSec  = MarkerCookie + "=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
)

// setCookies carries out the session-hygiene decision: the script shuts the
// Messenger down, and these cookies make sure the old session is not picked
// up again.
func (p *Page) setCookies(hdr http.Header) {
	hy := p.Hygiene
	if hy.Shutdown {
		hdr["Set-Cookie"] = append(hdr["Set-Cookie"], expiredSessionCookie(p.AppID, p.Host))
	}
	var c string
	switch {
	case hy.ExpireMarker && p.Secure:
		c = markerExpiredSec
	case hy.ExpireMarker:
		c = markerExpired
	case hy.SetMarker != "" && p.Secure:
		c = MarkerCookie + "=" + hy.SetMarker + markerAttrsSecure
	case hy.SetMarker != "":
		c = MarkerCookie + "=" + hy.SetMarker + markerAttrs
	default:
		return
	}
	hdr["Set-Cookie"] = append(hdr["Set-Cookie"], c)
}

// expiredSessionCookie deletes the Messenger's session cookie. A deletion
// only matches with the same Domain, so it names the registrable domain with
// a leading dot, as the Messenger does when it sets the cookie.
func expiredSessionCookie(appID, host string) string {
	c := "intercom-session-" + appID + "=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
	if domain := SessionCookieDomain(host); domain != "" {
		c += "; Domain=" + domain
	}
	return c
}
