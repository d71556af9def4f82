// doctor_checks.go: the checks of `caddy intercom doctor`, one method per
// area of the report.

package intercomcmd

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/injector/tokencheck"
)

// --- not injected: why -------------------------------------------------------

// diagnoseNotInjected names the reason a page came without the identity
// snippet, from the most certain to the least: the status, the type, the
// encoding, the document's shape, then a probe that shows whether the module
// runs on the route at all.
func (d *doctor) diagnoseNotInjected(page *doctorResponse, doc *pageDoc) {
	const area = "injection"
	credentials := d.req.basicAuth != "" || len(d.userHeaders()) > 0 || len(d.req.cookies) > 0
	switch code := page.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		if !credentials {
			d.report.problem(area, "missing-auth", fmt.Sprintf("%s without credentials: doctor sent none", page.Status),
				"pass what the user's browser sends: --basic-auth USER:PASS, --cookie 'session=…' or --header 'Name: value'")
		} else {
			d.report.problem(area, "auth-refused", fmt.Sprintf("%s: the credentials doctor sent were refused", page.Status),
				"check --basic-auth/--cookie/--header: they must log the user in as a browser would")
		}
		return
	case code >= 300 && code < 400:
		d.report.problem(area, "redirected", fmt.Sprintf("%s to %s: doctor does not follow redirects", page.Status, cliValue(page.Header.Get("Location"))),
			"run doctor on the page the user lands on (a redirect to a login page means the credentials were missing or refused)")
		return
	case code < 200 || code >= 300:
		d.report.problem(area, "status", fmt.Sprintf("%s: only successful pages are injected", page.Status), "run doctor on a page that answers 200")
		return
	}
	if !isHTML(page.Header.Get("Content-Type")) {
		d.report.problem(area, "not-html", fmt.Sprintf("Content-Type %s is not HTML: only text/html and XHTML pages are injected", cliValue(page.Header.Get("Content-Type"))),
			"run doctor on an HTML page, or make the upstream send Content-Type: text/html")
		return
	}
	if enc := page.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		// The module passes encoded bodies through. Is the plain page injected?
		plain, err := d.fetch(http.MethodGet, asUser, "", "identity")
		if err == nil && len(parsePage(plain.body).ours()) > 0 {
			d.report.problem(area, "compressed", fmt.Sprintf("the page reached the module already compressed (Content-Encoding %s), so it passed through; asked without compression it is injected", cliValue(enc)),
				"let the module see the plain page: order encode after intercom, drop precompressed files on this path, or remove `compression off` from the reverse_proxy transport")
		} else {
			d.report.problem(area, "compressed", fmt.Sprintf("the page comes compressed (Content-Encoding %s) and was passed through uninjected", cliValue(enc)),
				"let the module see the plain page: order encode after intercom, drop precompressed files on this path, or remove `compression off` from the reverse_proxy transport")
		}
		return
	}
	if doc.fragment {
		d.report.problem(area, "fragment", "the body is a fragment (content before any <!doctype>, <html>, <head> or <body>), which is never injected",
			"run doctor on a full page; fragments (htmx, partials) get the identity from the page that loads them")
		return
	}
	if doc.injectionAt < 0 {
		d.report.problem(area, "no-injection-point", fmt.Sprintf("no injection point: no script, <body> or content after the head in %d bytes", len(page.body)),
			"give the page a <body> (the module injects before the first script or body content, within the first 256 KiB)")
		return
	}
	if len(doc.ours()) > 0 {
		d.report.problem(area, "anonymous-shutdown", "the page carries only the module's shutdown script: the module saw this request as anonymous", d.anonymousFix())
		return
	}
	// Probe: the same request with a stale marker cookie. A module that
	// runs and sees an anonymous visitor answers with its shutdown script
	// and expires the marker; no reaction means it does not run here.
	probe, err := d.fetch(http.MethodGet, asUser, doctorProbeMarker, "identity")
	if err == nil && (len(parsePage(probe.body).ours()) > 0 || expiresMarker(probe.Header)) {
		d.diagnoseAnonymous(page)
		return
	}
	d.report.problem(area, "not-in-route", "the module did not act on this page (not even on a stale marker cookie): the intercom handler is not in this request's route",
		"put intercom in the site block that serves this path, and check its matcher (e.g. intercom /app/* does not cover other paths)")
}

// userHeaders are the --header values that can carry identity (not Host).
func (d *doctor) userHeaders() [][2]string {
	var out [][2]string
	for _, h := range d.req.headers {
		if !strings.EqualFold(h[0], "Host") {
			out = append(out, h)
		}
	}
	return out
}

// diagnoseAnonymous names the likely cause of an anonymous page, from what
// doctor sent.
func (d *doctor) diagnoseAnonymous(page *doctorResponse) {
	const area = "injection"
	switch {
	case d.req.basicAuth == "" && len(d.userHeaders()) == 0 && len(d.req.cookies) == 0:
		d.report.problem(area, "missing-auth", "anonymous: doctor sent no credentials, and the page is served without any",
			"pass what the user's browser sends (--basic-auth, --cookie, --header), and protect the page with the auth that sets user_id")
	case len(d.userHeaders()) > 0:
		var names []string
		for _, h := range d.userHeaders() {
			names = append(names, h[0])
		}
		d.report.problem(area, "untrusted-header", fmt.Sprintf("anonymous although doctor sent %s: an identity header is honoured only from an address in `trust`, and this request came from %s",
			strings.Join(names, ", "), page.local),
			"add the proxy that sets the header to trust (exact addresses), or take the identity from {http.auth.user.*} or {http.reverse_proxy.header.*}")
	default:
		via := "the cookie"
		if d.req.basicAuth != "" {
			via = fmt.Sprintf("basic auth as %s", cliValue(basicAuthUser(d.req.basicAuth)))
		}
		d.report.problem(area, "empty-placeholder", fmt.Sprintf("anonymous although %s was accepted (%s): user_id's placeholder resolved empty", via, page.Status),
			"make user_id name a value this auth sets: basic_auth sets {http.auth.user.id} only (not .email); forward_auth needs copy_headers or {http.reverse_proxy.header.*}")
	}
}

func (d *doctor) anonymousFix() string {
	return "check the identity: the credentials doctor sent, the user_id placeholder, and trust for header identities"
}

// expiresMarker reports whether a response deletes the marker cookie.
func expiresMarker(h http.Header) bool {
	for _, line := range h.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(line); err == nil && ck.Name == markerCookieName && (ck.MaxAge < 0 || ck.Value == "") {
			return true
		}
	}
	return false
}

// isHTML reports whether a Content-Type is one the module injects into.
func isHTML(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	}
	return mt == "text/html" || mt == "application/xhtml+xml"
}

// --- the script --------------------------------------------------------------

// checkScript checks that the snippet appears once, before every page script
// and after any <meta charset>.
func (d *doctor) checkScript(page *doctorResponse, doc *pageDoc) {
	const area = "script"
	ours := doc.ours()
	if len(ours) > 1 {
		d.report.problem(area, "duplicated", fmt.Sprintf("the module's script appears %d times: two intercom handlers ran on this request (or the upstream page already had one)", len(ours)),
			"keep one intercom handler per route (check nested routes, handle blocks and imported snippets)")
	}
	first := ours[0]
	var before []int
	for _, s := range doc.scripts {
		if !s.ours && s.seq < first.seq {
			before = append(before, s.offset)
		}
	}
	if len(before) > 0 {
		d.report.problem(area, "after-page-script", fmt.Sprintf("%d page script(s) run before the injected one (first at byte %d): they see no identity", len(before), before[0]),
			"make sure the page reaches the module unchanged (no other handler that rewrites the head after intercom)")
	}
	charsetLate := false
	for _, m := range doc.charsets {
		if m.seq > first.seq {
			charsetLate = true
			if _, params, _ := mime.ParseMediaType(page.Header.Get("Content-Type")); params["charset"] != "" {
				d.report.warn(area, "before-charset", fmt.Sprintf("the injected script (byte %d) comes before the page's <meta charset> (now at byte %d); harmless because Content-Type names the charset", first.offset, m.offset),
					"put <meta charset> first in the page's <head>")
			} else {
				d.report.problem(area, "before-charset", fmt.Sprintf("the injected script (byte %d) comes before the page's <meta charset> (now at byte %d, past the 1024 bytes a browser looks at): the page may be decoded with the wrong charset", first.offset, m.offset),
					"put <meta charset> first in the page's <head>, or send the charset in Content-Type (text/html; charset=utf-8)")
			}
			break
		}
	}
	if len(ours) == 1 && len(before) == 0 && !charsetLate {
		d.report.ok(area, "position", fmt.Sprintf("injected once, at byte %d, before every page script and after any <meta charset>", first.offset))
	}
}

// --- tokens ------------------------------------------------------------------

// checkTokens verifies the tokens the page carries, with tokencheck (the
// checks of `caddy intercom verify`).
func (d *doctor) checkTokens(s *pageSettings) {
	if d.userID == "" {
		d.report.warn("user", "user-unchecked", fmt.Sprintf("the page is signed for user_id %s; not compared", cliValue(s.UserID)),
			"pass --user-id with the id the page should be signed for")
	} else if s.UserID != d.userID {
		d.report.problem("user", "wrong-user", fmt.Sprintf("the page is signed for user_id %s, not %s", cliValue(s.UserID), cliValue(d.userID)),
			"check which request value user_id reads: it must be the logged-in user's id")
	} else {
		d.report.ok("user", "user", fmt.Sprintf("signed for user_id %s", cliValue(s.UserID)))
	}

	jwtSecretBad := false
	switch {
	case s.IntercomUserJWT == "":
		d.report.problem("intercom jwt", "jwt-missing", "the page has no intercom_user_jwt", "configure the intercom handler's secret (Messenger Security needs the JWT)")
	case !d.secretOK:
		r := tokencheck.VerifyIntercomToken(s.IntercomUserJWT, []byte{0}, tokencheck.IntercomVerifyOptions{UserID: s.UserID})
		d.report.warn("intercom jwt", "jwt-unverified", fmt.Sprintf("intercom_user_jwt %s: signature not checked (no secret)", tokenPrefix(s.IntercomUserJWT)),
			"set INTERCOM_SECRET or pass --secret-file with the Messenger API secret")
		d.addFindings("intercom jwt", "jwt-", r, tokencheck.CodeBadSignature, tokencheck.CodeNoSecret)
	default:
		// The JWT must name the user the page is for; whether that is the
		// expected user is the "user" check above, reported once.
		r := tokencheck.VerifyIntercomToken(s.IntercomUserJWT, d.secret, tokencheck.IntercomVerifyOptions{UserID: s.UserID})
		jwtSecretBad = r.Has(tokencheck.CodeBadSignature)
		d.addFindings("intercom jwt", "jwt-", r)
		if r.Valid && r.Count(tokencheck.SeverityWarning) == 0 {
			d.report.ok("intercom jwt", "jwt", fmt.Sprintf("intercom_user_jwt %s verifies with the secret%s", tokenPrefix(s.IntercomUserJWT), expiresIn(r)))
		}
	}

	if s.UserHash != "" {
		switch {
		case !d.secretOK:
			d.report.warn("user hash", "hash-unverified", "user_hash present; not compared (no secret)", "set INTERCOM_SECRET or pass --secret-file")
		case jwtSecretBad:
			d.report.warn("user hash", "hash-unverified", "user_hash not compared: the secret does not match the JWT either (see above)", "use the workspace's Messenger API secret")
		case hmac.Equal([]byte(s.UserHash), []byte(injector.UserHash(d.secret, s.UserID))):
			d.report.ok("user hash", "hash", "user_hash matches HMAC-SHA256(secret, user_id)")
		default:
			d.report.problem("user hash", "hash-mismatch", "user_hash is not HMAC-SHA256(secret, user_id)", "sign user_hash with the same secret as the JWT")
		}
	}

	switch {
	case s.SalesforceIdentityToken == "" && d.sfKeysOK:
		d.report.problem("salesforce", "sf-missing", "--jwks/--certificate given, but the page has no salesforce_identity_token",
			"configure salesforce { … } in the intercom handler (and a subject that resolves for this user)")
	case s.SalesforceIdentityToken == "":
	case !d.sfKeysOK:
		d.report.warn("salesforce", "sf-unverified", fmt.Sprintf("salesforce_identity_token %s: not verified (no key)", tokenPrefix(s.SalesforceIdentityToken)),
			"pass --jwks KID.jwk.json (or --certificate) and --issuer to verify it")
	default:
		r := tokencheck.VerifySalesforceToken(s.SalesforceIdentityToken, d.sfKeys, tokencheck.SalesforceVerifyOptions{Issuer: d.issuer})
		d.addFindings("salesforce", "sf-", r)
		if r.Valid && r.Count(tokencheck.SeverityWarning) == 0 {
			d.report.ok("salesforce", "sf", fmt.Sprintf("salesforce_identity_token %s verifies with key %s%s", tokenPrefix(s.SalesforceIdentityToken), cliValue(r.KeyID), expiresIn(r)))
		}
	}
}

// addFindings reports a token report's errors as problems and its warnings
// as warnings (remarks are left out), skipping the codes in skip.
func (d *doctor) addFindings(area, prefix string, r tokencheck.Report, skip ...string) {
	for _, f := range r.Findings {
		if contains(skip, f.Code) {
			continue
		}
		switch f.Severity {
		case tokencheck.SeverityError:
			d.report.problem(area, prefix+f.Code, f.Problem, f.Fix)
		case tokencheck.SeverityWarning:
			d.report.warn(area, prefix+f.Code, f.Problem, f.Fix)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// expiresIn describes a token's exp for the ok line.
func expiresIn(r tokencheck.Report) string {
	if t, ok := cliTime(r.Claims["exp"]); ok {
		return ", expires in " + tokencheck.FormatDuration(time.Until(t))
	}
	return ""
}

// --- caching -----------------------------------------------------------------

// cachePolicy is what a response's caching headers allow.
type cachePolicy struct {
	noStore, private bool
	sharedCC         bool     // Cache-Control itself lets a shared cache keep it
	shared           []string // other headers that let a shared cache keep the response // headers that let a shared cache keep the response
	validators       []string
}

// readCachePolicy reads every header that a browser, a shared cache or a CDN
// would obey.
func readCachePolicy(h http.Header, now time.Time) cachePolicy {
	var p cachePolicy
	cc := directives(h.Values("Cache-Control"))
	_, p.noStore = cc["no-store"]
	_, p.private = cc["private"]
	if !p.noStore && !p.private {
		for _, k := range []string{"public", "s-maxage", "max-age"} {
			if v, ok := cc[k]; ok && (k == "public" || v != "0") {
				p.sharedCC = true
				break
			}
		}
	}
	if v := h.Get("Expires"); v != "" {
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			p.shared = append(p.shared, "Expires: "+v)
		}
	}
	// Surrogate-Control (Fastly, Akamai), CDN-Cache-Control and its
	// vendor forms (Cloudflare-CDN-Cache-Control, …): absent is fine, but
	// present they override Cache-Control at that cache.
	for name := range h {
		lower := strings.ToLower(name)
		if lower != "surrogate-control" && !strings.HasSuffix(lower, "cdn-cache-control") {
			continue
		}
		d := directives(h.Values(name))
		_, ns := d["no-store"]
		_, pv := d["private"]
		if !ns && !pv && d["max-age"] != "0" {
			p.shared = append(p.shared, http.CanonicalHeaderKey(name)+": "+h.Get(name))
		}
	}
	if v := h.Get("X-Accel-Expires"); v != "" && strings.TrimSpace(v) != "0" {
		p.shared = append(p.shared, "X-Accel-Expires: "+v)
	}
	for _, v := range []string{"ETag", "Last-Modified"} {
		if h.Get(v) != "" {
			p.validators = append(p.validators, v)
		}
	}
	return p
}

// directives parses Cache-Control-style values into lower-case directive
// names and their (unquoted) values.
func directives(values []string) map[string]string {
	out := map[string]string{}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
				out[k] = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return out
}

// checkCaching checks that no cache but the user's browser may keep the
// injected page.
func (d *doctor) checkCaching(page *doctorResponse) {
	const area = "caching"
	p := readCachePolicy(page.Header, time.Now())
	good := true
	if !p.noStore || !p.private {
		good = false
		d.report.problem(area, "cache-control", fmt.Sprintf("Cache-Control is %s, not private, no-store: a cache may keep one user's page and token", cliValue(strings.Join(page.Header.Values("Cache-Control"), ", "))),
			"remove what overrides the module's Cache-Control on this path (e.g. a deferred `header >Cache-Control …`, which runs after intercom)")
	}
	if len(p.shared) > 0 {
		good = false
		d.report.problem(area, "shared-cache", "a shared cache or CDN may keep the page: "+strings.Join(p.shared, "; "),
			"remove these headers on injected pages (or set them to no-store / 0), e.g. drop the `header` that adds them")
	}
	if len(p.validators) > 0 {
		good = false
		d.report.problem(area, "validators", fmt.Sprintf("the injected page carries %s: a conditional request could revalidate one user's page for another", strings.Join(p.validators, ", ")),
			"do not add validators after the module (e.g. a deferred `header >ETag`)")
	}
	if age := page.Header.Get("Age"); age != "" && age != "0" {
		good = false
		d.report.problem(area, "from-cache", fmt.Sprintf("Age: %s: this injected page was served from a cache", age),
			"make the cache in front of Caddy bypass pages with Cache-Control private/no-store")
	}
	if good {
		d.report.ok(area, "private", fmt.Sprintf("Cache-Control %s, no shared-cache header, no validators", cliValue(page.Header.Get("Cache-Control"))))
	}
}

// checkHead checks the HEAD answer: the same status, and no policy that
// would let a cache keep (or refresh) the page's headers.
func (d *doctor) checkHead(head *doctorResponse, injected bool) {
	const area = "head"
	if !injected {
		return
	}
	p := readCachePolicy(head.Header, time.Now())
	switch {
	case head.StatusCode < 200 || head.StatusCode >= 300:
		d.report.warn(area, "head-status", fmt.Sprintf("HEAD answers %s while GET answers 200", head.Status), "answer HEAD like GET")
	case p.sharedCC || len(p.shared) > 0:
		what := p.shared
		if p.sharedCC {
			what = append([]string{"Cache-Control: " + head.Header.Get("Cache-Control")}, what...)
		}
		d.report.problem(area, "head-cacheable", "the HEAD answer lets a shared cache keep the page's headers: "+strings.Join(what, "; "),
			"remove what adds caching headers to HEAD on this path")
	case !p.noStore || !p.private:
		d.report.warn(area, "head-policy", fmt.Sprintf("HEAD has Cache-Control %s, not the injected page's private, no-store", cliValue(head.Header.Get("Cache-Control"))),
			"update caddy-intercom (an identified HEAD gets the GET's header policy) or set Cache-Control: private, no-store for HEAD on this path")
	default:
		d.report.ok(area, "head", "HEAD carries the injected page's cache policy")
	}
}

// checkAnonymous checks the page as a visitor without credentials sees it.
func (d *doctor) checkAnonymous(anon *doctorResponse, injected bool) {
	const area = "anonymous"
	doc := parsePage(anon.body)
	for _, s := range doc.ours() {
		if s.settings != nil {
			d.report.problem(area, "anonymous-identified", fmt.Sprintf("a request without credentials got a page identified as %s: a shared cache served a user's page, or user_id does not come from the request", cliValue(s.settings.UserID)),
				"take user_id only from authentication ({http.auth.user.*}, {http.reverse_proxy.header.*}, trusted headers), and keep injected pages out of caches")
			return
		}
	}
	p := readCachePolicy(anon.Header, time.Now())
	if anon.StatusCode >= 200 && anon.StatusCode < 300 && isHTML(anon.Header.Get("Content-Type")) && len(doc.ours()) == 0 && (p.noStore || p.private) && injected {
		d.report.warn(area, "anonymous-private", fmt.Sprintf("the anonymous page (nothing injected) is Cache-Control %s: it cannot be cached although it carries no identity", cliValue(anon.Header.Get("Cache-Control"))),
			"set Cache-Control private/no-store only where needed: the module sets it on injected pages itself")
		return
	}
	d.report.ok(area, "anonymous", fmt.Sprintf("%s without credentials, no identity on it", anon.Status))
}

// --- CSP ---------------------------------------------------------------------

// checkCSP checks that every enforced policy (headers, and <meta> policies
// that come before the script) lets the injected script run, and warns when
// a report-only policy would report it.
func (d *doctor) checkCSP(page *doctorResponse, doc *pageDoc) {
	const area = "csp"
	ours := doc.ours()[0]
	hashes := scriptHashes(ours.text)
	found := false
	for _, v := range page.Header.Values("Content-Security-Policy") {
		for _, pol := range strings.Split(v, ",") {
			found = true
			if why, ok := cspAllows(pol, ours.nonce, hashes); !ok {
				d.report.problem(area, "csp-header", fmt.Sprintf("the Content-Security-Policy header blocks the injected script: %s", why),
					"do not set the CSP after the module (a deferred `header >Content-Security-Policy` runs after intercom); let the upstream send it, with a nonce the module reuses")
			}
		}
	}
	for _, m := range doc.csps {
		if m.seq > ours.seq {
			continue // a <meta> policy applies only to what comes after it
		}
		found = true
		if why, ok := cspAllows(m.content, ours.nonce, hashes); !ok {
			d.report.problem(area, "csp-meta", fmt.Sprintf("a <meta> Content-Security-Policy before the injected script blocks it: %s", why),
				"update caddy-intercom (it injects before such a <meta>), or move the policy to a Content-Security-Policy header")
		}
	}
	for _, v := range page.Header.Values("Content-Security-Policy-Report-Only") {
		for _, pol := range strings.Split(v, ",") {
			if why, ok := cspAllows(pol, ours.nonce, hashes); !ok {
				d.report.warn(area, "csp-report-only", "the report-only policy would report the injected script: "+why,
					"let the module see the policy (do not add it after intercom)")
			}
		}
	}
	if d.report.countArea(area, statusProblem) == 0 {
		if found {
			d.report.ok(area, "csp", "every Content-Security-Policy allows the injected script")
		} else {
			d.report.ok(area, "csp", "no Content-Security-Policy")
		}
	}
}

func (r *doctorReport) countArea(area, status string) int {
	n := 0
	for _, c := range r.Checks {
		if c.Area == area && c.Status == status {
			n++
		}
	}
	return n
}

// scriptHashes are the CSP hash sources of a script's text.
func scriptHashes(text string) []string {
	s256 := sha256.Sum256([]byte(text))
	s384 := sha512.Sum384([]byte(text))
	s512 := sha512.Sum512([]byte(text))
	return []string{
		"'sha256-" + base64.StdEncoding.EncodeToString(s256[:]) + "'",
		"'sha384-" + base64.StdEncoding.EncodeToString(s384[:]) + "'",
		"'sha512-" + base64.StdEncoding.EncodeToString(s512[:]) + "'",
	}
}

// cspAllows reports whether one serialized policy lets an inline script
// element with nonce and the given hashes run (CSP3: script-src-elem, else
// script-src, else default-src; a nonce or hash disables 'unsafe-inline').
func cspAllows(policy, nonce string, hashes []string) (string, bool) {
	dirs := map[string][]string{}
	for _, d := range strings.Split(policy, ";") {
		f := strings.Fields(d)
		if len(f) == 0 {
			continue
		}
		name := strings.ToLower(f[0])
		if _, dup := dirs[name]; !dup { // the first of a duplicated directive counts
			dirs[name] = f[1:]
		}
	}
	var name string
	var sources []string
	for _, n := range []string{"script-src-elem", "script-src", "default-src"} {
		if s, ok := dirs[n]; ok {
			name, sources = n, s
			break
		}
	}
	if name == "" {
		return "", true
	}
	unsafeInline, nonceOrHash := false, false
	for _, s := range sources {
		ls := strings.ToLower(s)
		switch {
		case ls == "'unsafe-inline'":
			unsafeInline = true
		case strings.HasPrefix(ls, "'nonce-"):
			nonceOrHash = true
			if nonce != "" && s == "'nonce-"+nonce+"'" {
				return "", true
			}
		case strings.HasPrefix(ls, "'sha256-") || strings.HasPrefix(ls, "'sha384-") || strings.HasPrefix(ls, "'sha512-"):
			nonceOrHash = true
			if contains(hashes, s) {
				return "", true
			}
		case ls == "'strict-dynamic'":
			nonceOrHash = true // strict-dynamic also disables 'unsafe-inline'
		}
	}
	if unsafeInline && !nonceOrHash {
		return "", true
	}
	return fmt.Sprintf("%s %s lists neither the script's nonce (%s) nor its hash", name, cliValue(strings.Join(sources, " ")), cliValue(nonce)), false
}

// --- the marker cookie -------------------------------------------------------

// checkCookie checks the attributes of the marker cookie the module sets.
func (d *doctor) checkCookie(page *doctorResponse) {
	const area = "cookie"
	var ck *http.Cookie
	for _, line := range page.Header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil && c.Name == markerCookieName {
			ck = c
		}
	}
	if ck == nil {
		for _, c := range d.req.cookies {
			if name, _, _ := strings.Cut(c, "="); strings.TrimSpace(name) == markerCookieName {
				d.report.ok(area, "marker-kept", "the marker cookie doctor sent was kept (nothing to set)")
				return
			}
		}
		d.report.warn(area, "marker-missing", "no "+markerCookieName+" cookie set on a first identified page: user switches and logouts leave the Messenger session behind",
			"do not remove Set-Cookie after the module (e.g. a deferred `header >Set-Cookie`)")
		return
	}
	var bad []string
	if !ck.HttpOnly {
		d.report.problem(area, "marker-httponly", "the marker cookie is not HttpOnly: page scripts can read and rewrite it",
			"do not rewrite Set-Cookie after the module (a deferred `header >Set-Cookie …` runs after intercom)")
		bad = append(bad, "HttpOnly")
	}
	if ck.SameSite != http.SameSiteLaxMode && ck.SameSite != http.SameSiteStrictMode {
		d.report.problem(area, "marker-samesite", "the marker cookie has no SameSite=Lax/Strict: other sites' requests carry it",
			"do not rewrite Set-Cookie after the module")
		bad = append(bad, "SameSite")
	}
	if d.req.url.Scheme == "https" && !ck.Secure {
		d.report.problem(area, "marker-secure", "the marker cookie is not Secure on an https site",
			"serve the site over https directly from Caddy, or do not rewrite Set-Cookie after the module")
		bad = append(bad, "Secure")
	}
	if len(bad) == 0 {
		attrs := "HttpOnly, SameSite=" + map[http.SameSite]string{http.SameSiteLaxMode: "Lax", http.SameSiteStrictMode: "Strict"}[ck.SameSite]
		if ck.Secure {
			attrs += ", Secure"
		}
		d.report.ok(area, "marker", markerCookieName+" is "+attrs)
	}
}

// --- the Help Center ---------------------------------------------------------

// checkHelpCenter checks the Help Center host: on the app's registrable
// domain (where the Messenger's intercom-* cookies live, so signed-in users
// are recognised), reachable, and answered for its Host.
func (d *doctor) checkHelpCenter(hc *url.URL) {
	const area = "help center"
	appHost, hcHost := d.req.url.Hostname(), hc.Hostname()
	appDomain, errA := registrableDomain(appHost)
	hcDomain, errH := registrableDomain(hcHost)
	switch {
	case errA != nil || errH != nil:
		d.report.warn(area, "hc-domain-unknown", fmt.Sprintf("cannot compare registrable domains of %s and %s (an IP address or a public suffix)", appHost, hcHost),
			"use host names on the same registrable domain (help.example.com next to app.example.com)")
	case appDomain != hcDomain:
		d.report.problem(area, "hc-domain", fmt.Sprintf("the Help Center %s is not on the app's registrable domain %s (it is on %s): the Messenger's cookies do not reach it, so users are not recognised there", hcHost, appDomain, hcDomain),
			"serve the Help Center on a subdomain of "+appDomain)
	default:
		d.report.ok(area, "hc-domain", fmt.Sprintf("%s shares the registrable domain %s with the app", hcHost, appDomain))
	}
	ctx, cancel := contextTimeout()
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hc.String(), nil)
	if err != nil {
		d.report.problem(area, "hc-unreachable", err.Error(), "check the --help-center URL")
		return
	}
	req.Header.Set("User-Agent", "caddy-intercom-doctor")
	if strings.EqualFold(hc.Host, d.req.url.Host) {
		// The Help Center under a path of the app: the browser sends the
		// user's credentials along, and so does doctor, to see whether the
		// intercom handler runs on those pages too.
		d.setCredentials(req)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		d.report.problem(area, "hc-unreachable", fmt.Sprintf("%s is not reachable: %v", hc.Redacted(), doctorNetError(err)),
			"check DNS and that Caddy serves this host (a site block with intercom_help_center)")
		return
	}
	body := make([]byte, 64<<10)
	n, _ := readFull(resp.Body, body)
	resp.Body.Close()
	body = body[:n]
	switch code := resp.StatusCode; {
	case code >= 500:
		d.report.problem(area, "hc-error", fmt.Sprintf("%s answers %s: the Help Center origin failed or is unreachable from Caddy", hc.Redacted(), resp.Status),
			"check intercom_help_center's region/origin and that Caddy can reach it; Caddy's log names the error")
	case code == http.StatusNotFound || code == http.StatusMisdirectedRequest:
		d.report.problem(area, "hc-host", fmt.Sprintf("%s answers %s: its Host is not answered (no matching site, or the Help Center does not know this custom domain)", hc.Redacted(), resp.Status),
			"add the host to Intercom's Help Center custom domain settings and give it a Caddy site with intercom_help_center")
	case code == http.StatusOK && len(body) == 0 && resp.Header.Get("Content-Type") == "":
		d.report.problem(area, "hc-host", fmt.Sprintf("%s answers an empty 200: no Caddy site handles this Host", hc.Redacted()),
			"add a site block for this host with intercom_help_center")
	case len(parsePage(body).ours()) > 0:
		d.report.problem(area, "hc-injected", "the Help Center page carries the module's script: the intercom handler runs on Intercom's own pages",
			"keep intercom out of the Help Center route (a handle for the Help Center path without intercom)")
	default:
		d.report.ok(area, "hc", fmt.Sprintf("%s answers %s", hc.Redacted(), resp.Status))
	}
}

// registrableDomain is the eTLD+1 of a host, by the public suffix list.
func registrableDomain(host string) (string, error) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if net.ParseIP(host) != nil {
		return "", fmt.Errorf("%s is an IP address", host)
	}
	return publicsuffix.EffectiveTLDPlusOne(host)
}
