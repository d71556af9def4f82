// doctor.go: `caddy intercom doctor`, which checks a running deployment end
// to end, as an operator would with curl, verify and a careful eye.

package intercomcmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/caddy-intercom/caddy-intercom/injector/keys"
)

func init() { addSubcommand(cliDoctorCommand) }

func cliDoctorCommand() *cobra.Command {
	cmd := cliSubcommand("doctor <url> [--user-id ID] [--basic-auth USER:PASS] [--header 'Name: value']… [--cookie 'a=b']… [--secret-file F] [--jwks F | --certificate F] [--issuer ISS] [--help-center URL] [--json]",
		"Check a running deployment end to end", `
Requests the page at <url> as a user (with --basic-auth, --header and --cookie
as that user's browser would send them), once anonymously (none of them) and
once as a HEAD, and checks what the intercom handler did:

  injection    injected or not, and why not: anonymous (missing auth, an
               untrusted identity header, an empty placeholder), not HTML,
               compressed, a fragment, no injection point, the module not in
               the route
  script       the injected script comes once, before every page script and
               after any <meta charset>
  tokens       intercom_user_jwt verifies with the secret and names --user-id,
               exp is sane; the Salesforce token verifies with --jwks or
               --certificate and --issuer; user_hash matches
  caching      Cache-Control private/no-store, nothing (Expires,
               Surrogate-Control, CDN-Cache-Control, X-Accel-Expires) that lets
               a shared cache keep the page, no validators; the HEAD answer
               alike; the anonymous page not marked private by mistake
  csp          the Content-Security-Policy header and any <meta> policy allow
               the injected script (nonce or hash)
  cookie       the marker cookie is HttpOnly, SameSite, and Secure on https
  help center  with --help-center: same registrable domain as the app,
               reachable, and its Host answered

Each check is reported as ok, warn or problem, with a one-line fix. The
secret comes from INTERCOM_SECRET or --secret-file, as for verify; without
it the token signatures are not checked (a warning). Secrets and tokens are
never printed, only a token's first characters.

Exit status: 0 no problem (warnings allowed), 1 a problem, 2 usage or
network error.

  INTERCOM_SECRET=… caddy intercom doctor https://app.example.com/dashboard \
      --user-id 42 --cookie "session=…"
`, cliDoctor)
	f := cmd.Flags()
	f.String("user-id", "", "the user_id the page should be signed for")
	f.String("basic-auth", "", "`USER:PASS` to send as HTTP Basic authentication")
	f.StringArray("header", nil, "request header `'Name: value'` (repeatable)")
	f.StringArray("cookie", nil, "request cookie `'name=value'` (repeatable)")
	f.String("secret-file", "", "read the Messenger API secret from this `file` instead of $"+cliSecretEnv)
	f.StringArray("jwks", nil, "Salesforce: JWKS or single JWK `file` to verify the token with")
	f.StringArray("certificate", nil, "Salesforce: PEM certificate `file` to verify the token with")
	f.String("issuer", "", "Salesforce: expected iss, the keyset's JSON Web Key Issuer")
	f.String("help-center", "", "the Help Center `URL` to check as well")
	f.Bool("json", false, "print the report as JSON")
	return cmd
}

// Doctor statuses, in the order of severity.
const (
	statusOK      = "ok"
	statusWarn    = "warn"
	statusProblem = "problem"
)

// doctorCheck is one line of doctor's report. Code names the diagnosis
// (stable: scripts and tests match on it); Message and Fix are for people.
type doctorCheck struct {
	Area    string `json:"area"`
	Code    string `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// doctorReport is what doctor prints, as text or as JSON.
type doctorReport struct {
	URL      string        `json:"url"`
	UserID   string        `json:"user_id,omitempty"`
	Checks   []doctorCheck `json:"checks"`
	Problems int           `json:"problems"`
	Warnings int           `json:"warnings"`
}

func (r *doctorReport) add(area, code, status, message, fix string) {
	r.Checks = append(r.Checks, doctorCheck{Area: area, Code: code, Status: status, Message: cliSanitize(message), Fix: fix})
	switch status {
	case statusProblem:
		r.Problems++
	case statusWarn:
		r.Warnings++
	}
}

func (r *doctorReport) ok(area, code, message string) { r.add(area, code, statusOK, message, "") }
func (r *doctorReport) warn(area, code, message, fix string) {
	r.add(area, code, statusWarn, message, fix)
}
func (r *doctorReport) problem(area, code, message, fix string) {
	r.add(area, code, statusProblem, message, fix)
}

// doctorDialContext is how doctor connects; tests replace it to reach a
// local caddy under any host name.
var doctorDialContext = (&net.Dialer{Timeout: 10 * time.Second}).DialContext

// doctorRootCAs are the roots doctor trusts for https; nil means the
// system's. Tests set it to a local caddy's internal CA.
var doctorRootCAs *x509.CertPool

// doctorMaxBody bounds how much of a page doctor reads.
const doctorMaxBody = 8 << 20

// doctorRequest describes how to ask for the page as the user.
type doctorRequest struct {
	url       *url.URL
	basicAuth string
	headers   [][2]string
	cookies   []string
}

// doctorResponse is a response with its (decoded) body.
type doctorResponse struct {
	*http.Response
	body  []byte
	local string // doctor's address on the connection, as the server saw it (without a proxy)
}

// doctor holds one run's inputs; it is built per run, never shared.
type doctor struct {
	c        *cobra.Command
	req      doctorRequest
	userID   string
	secret   []byte
	secretOK bool // a secret was given
	sfKeys   keys.JWKS
	sfKeysOK bool
	issuer   string
	client   *http.Client
	report   doctorReport
}

func cliDoctor(c *cobra.Command, args []string) int {
	if len(args) != 1 {
		return cliUsage(c, "doctor takes one URL, got %d arguments", len(args))
	}
	u, err := url.Parse(args[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cliUsage(c, "%q is not an http(s) URL", args[0])
	}
	f := c.Flags()
	d := &doctor{c: c, req: doctorRequest{url: u}}
	d.userID, _ = f.GetString("user-id")
	d.req.basicAuth, _ = f.GetString("basic-auth")
	if d.req.basicAuth != "" && !strings.Contains(d.req.basicAuth, ":") {
		return cliUsage(c, "--basic-auth wants USER:PASS")
	}
	if u.User != nil {
		// user:pass@ in the URL is basic auth, which the anonymous request
		// must not send (Go's client would, from the URL).
		if d.req.basicAuth == "" {
			pass, _ := u.User.Password()
			d.req.basicAuth = u.User.Username() + ":" + pass
		}
		u.User = nil
	}
	headers, _ := f.GetStringArray("header")
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
			return cliUsage(c, "--header %q: want 'Name: value'", h)
		}
		d.req.headers = append(d.req.headers, [2]string{name, strings.TrimSpace(value)})
	}
	d.req.cookies, _ = f.GetStringArray("cookie")
	for _, ck := range d.req.cookies {
		if name, _, ok := strings.Cut(ck, "="); !ok || strings.TrimSpace(name) == "" {
			return cliUsage(c, "--cookie %q: want name=value", ck)
		}
	}
	if path, _ := f.GetString("secret-file"); path != "" || os.Getenv(cliSecretEnv) != "" {
		secret, _, code := cliSecret(c)
		if code != cliExitOK {
			return code
		}
		d.secret, d.secretOK = secret, true
	}
	certFiles, _ := f.GetStringArray("certificate")
	jwksFiles, _ := f.GetStringArray("jwks")
	if len(certFiles) > 0 || len(jwksFiles) > 0 {
		set, code := cliLoadKeys(c, certFiles, jwksFiles)
		if code != cliExitOK {
			return code
		}
		d.sfKeys, d.sfKeysOK = set, true
	}
	d.issuer, _ = f.GetString("issuer")
	hc, _ := f.GetString("help-center")
	var hcURL *url.URL
	if hc != "" {
		if hcURL, err = url.Parse(hc); err != nil || (hcURL.Scheme != "http" && hcURL.Scheme != "https") || hcURL.Host == "" {
			return cliUsage(c, "--help-center %q is not an http(s) URL", hc)
		}
	}
	asJSON, _ := f.GetBool("json")

	d.client = newDoctorClient()
	defer d.client.CloseIdleConnections()
	d.report.URL = u.Redacted()
	d.report.UserID = d.userID

	if code := d.run(); code != cliExitOK {
		return code
	}
	if hcURL != nil {
		d.checkHelpCenter(hcURL)
	}
	if asJSON {
		enc := json.NewEncoder(c.OutOrStdout())
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		enc.Encode(d.report)
	} else {
		d.printText(c.OutOrStdout())
	}
	if d.report.Problems > 0 {
		return cliExitInvalid
	}
	return cliExitOK
}

// requestKind says which of doctor's requests is made.
type requestKind int

const (
	asUser    requestKind = iota // with the user's credentials
	anonymous                    // with none of them
)

// fetch makes one request for the page. marker, when not "", is sent as the
// marker cookie (a probe: the module reacts to a stale marker even for an
// anonymous visitor). acceptEncoding is the Accept-Encoding header.
func (d *doctor) fetch(method string, kind requestKind, marker, acceptEncoding string) (*doctorResponse, error) {
	ctx, cancel := contextTimeout()
	defer cancel()
	var local string
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if ip, _, err := net.SplitHostPort(info.Conn.LocalAddr().String()); err == nil {
			local = ip
		}
	}})
	req, err := http.NewRequestWithContext(ctx, method, d.req.url.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "caddy-intercom-doctor")
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	req.Header.Set("Accept-Encoding", acceptEncoding)
	var cookies []string
	if kind == asUser {
		d.setCredentials(req)
		cookies = append(cookies, d.req.cookies...)
	} else {
		for _, h := range d.req.headers { // Host is where the page is, not who the user is
			if strings.EqualFold(h[0], "Host") {
				req.Host = h[1]
			}
		}
	}
	if marker != "" {
		cookies = append(cookies, markerCookieName+"="+marker)
	}
	if len(cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(cookies, "; "))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, doctorMaxBody))
	if err != nil {
		return nil, err
	}
	out := &doctorResponse{Response: resp, body: body, local: local}
	if strings.EqualFold(strings.TrimSpace(resp.Header.Get("Content-Encoding")), "gzip") && len(body) > 0 {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			if plain, err := io.ReadAll(io.LimitReader(zr, doctorMaxBody)); err == nil {
				out.body = plain
			}
		}
	}
	return out, nil
}

// markerCookieName is the module's session marker cookie (injector.MarkerCookie;
// spelled here because the CLI must not depend on the request path's
// internals for a name that is part of the deployment's contract).
const markerCookieName = "caddy_intercom_user"

// doctorProbeMarker is the stale marker value doctor sends to see whether the
// module runs on the route: it matches no user, so the module answers with
// its shutdown script and expires the cookie.
const doctorProbeMarker = "caddy-intercom-doctor-probe"

// run makes the requests and the checks. It returns a non-OK status only
// for a network error on the page itself.
func (d *doctor) run() int {
	page, err := d.fetch(http.MethodGet, asUser, "", "gzip")
	if err != nil {
		fmt.Fprintf(d.c.ErrOrStderr(), "error: requesting %s: %v\n", d.report.URL, doctorNetError(err))
		return cliExitUsage
	}
	doc := parsePage(page.body)
	ours := doc.ours()
	injected := len(ours) > 0 && ours[0].settings != nil

	if injected {
		d.report.ok("injection", "injected", fmt.Sprintf("%s %s: injected, as user %s", page.Proto, page.Status, cliValue(ours[0].settings.UserID)))
		d.checkScript(page, doc)
		d.checkTokens(ours[0].settings)
		d.checkCaching(page)
		d.checkCSP(page, doc)
		d.checkCookie(page)
	} else {
		d.diagnoseNotInjected(page, doc)
	}

	if head, err := d.fetch(http.MethodHead, asUser, "", "gzip"); err != nil {
		d.report.problem("head", "head-failed", "HEAD request failed: "+doctorNetError(err).Error(), "make the page answer HEAD (caches and monitors send it)")
	} else {
		d.checkHead(head, injected)
	}
	if anon, err := d.fetch(http.MethodGet, anonymous, "", "gzip"); err != nil {
		d.report.problem("anonymous", "anonymous-failed", "anonymous request failed: "+doctorNetError(err).Error(), "check that the page answers without credentials (a login redirect is fine)")
	} else {
		d.checkAnonymous(anon, injected)
	}
	return cliExitOK
}

// doctorNetError shortens an url.Error to its cause (the URL is in the
// report already, and may carry user info).
func doctorNetError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// tokenPrefix shows the first characters of a token, as verify does: enough
// to tell tokens apart, too little to use one.
func tokenPrefix(tok string) string {
	const n = 10
	if len(tok) <= n {
		return strings.Repeat("*", len(tok))
	}
	return tok[:n] + "…"
}

// printText writes the report for people: one line per check with its
// status, a fix line under each warning and problem, and a summary.
func (d *doctor) printText(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "caddy intercom doctor %s", d.report.URL)
	if d.userID != "" {
		fmt.Fprintf(&b, " (as user %s)", cliValue(d.userID))
	}
	b.WriteString("\n\n")
	for _, ck := range d.report.Checks {
		label := map[string]string{statusOK: "ok", statusWarn: "WARN", statusProblem: "PROBLEM"}[ck.Status]
		fmt.Fprintf(&b, "%-8s %-12s %s\n", label, ck.Area, ck.Message)
		if ck.Fix != "" && ck.Status != statusOK {
			fmt.Fprintf(&b, "%-8s %-12s fix: %s\n", "", "", ck.Fix)
		}
	}
	b.WriteString("\n")
	switch {
	case d.report.Problems == 0 && d.report.Warnings == 0:
		b.WriteString("HEALTHY: no problem found\n")
	case d.report.Problems == 0:
		fmt.Fprintf(&b, "HEALTHY (%s)\n", plural(d.report.Warnings, "warning"))
	default:
		s := plural(d.report.Problems, "problem")
		if d.report.Warnings > 0 {
			s += ", " + plural(d.report.Warnings, "warning")
		}
		fmt.Fprintf(&b, "UNHEALTHY (%s)\n", s)
	}
	io.WriteString(w, b.String())
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// basicAuthUser returns the user name of a USER:PASS pair (never the
// password).
func basicAuthUser(pair string) string {
	user, _, _ := strings.Cut(pair, ":")
	return user
}

// contextTimeout bounds one request of doctor's.
func contextTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// readFull reads into buf until it is full or the reader ends.
func readFull(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return n, err
}

// newDoctorClient is doctor's HTTP client: it follows no redirect (a
// redirect is a finding), asks for compression itself (to see
// Content-Encoding), and verifies TLS certificates.
func newDoctorClient() *http.Client {
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DialContext:        doctorDialContext,
			DisableCompression: true,
			TLSClientConfig:    &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: doctorRootCAs},
			ForceAttemptHTTP2:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// setCredentials puts the user's basic auth and headers (and a Host
// override) on req; cookies are the caller's, because fetch adds its probe.
func (d *doctor) setCredentials(req *http.Request) {
	if user, pass, ok := strings.Cut(d.req.basicAuth, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	for _, h := range d.req.headers {
		if strings.EqualFold(h[0], "Host") {
			req.Host = h[1]
			continue
		}
		req.Header.Add(h[0], h[1])
	}
}
