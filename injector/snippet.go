package injector

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Settings are the trusted values the edge puts into window.intercomSettings.
// Only these reach the page as plain settings: custom attributes travel
// inside IntercomUserJWT, as Intercom recommends, so that a page script
// cannot read or alter them apart from the signed token. Email and Name,
// when the edge knows them, are also handed over so that they are locked
// like the identity keys: the page cannot boot the Messenger with a
// different, unsigned email or name.
type Settings struct {
	AppID, APIBase, UserID            string
	Email, Name                       string // optional ("" = not locked)
	IntercomUserJWT                   string
	SalesforceIdentityToken, UserHash string // optional ("" = omitted)
}

// SnippetOptions switch on the parts of the script that go beyond handing
// over the settings. They come from the site's configuration and the
// session-hygiene decision for the request, never from the page.
type SnippetOptions struct {
	// Loader installs the standard Messenger loader for Settings.AppID when,
	// by the window load event, the page has installed no Intercom function
	// of its own, so an unchanged legacy page still gets the Messenger.
	Loader bool
	// Endpoint is the token endpoint path ("" = no refresh). With it, the
	// script refreshes the tokens before they expire, answers Salesforce's
	// token-expired event, and shuts the Messenger down when the endpoint
	// says the user is gone (401).
	Endpoint string
	// RefreshIn is when the first refresh happens (about 80% of the token
	// lifetime); later refreshes are timed from the endpoint's expires_at.
	// Used only with Endpoint; zero or negative means DefaultRefreshIn.
	// The script never waits less than one second.
	RefreshIn time.Duration
	// Shutdown: the edge saw a previous or different user's Messenger session
	// in this browser (or a logout), so the script calls Intercom('shutdown')
	// before any boot, and Salesforce's clearSession(true) once it is ready.
	Shutdown bool
}

// DefaultRefreshIn is the first refresh delay when SnippetOptions.RefreshIn
// is not set: 80% of the one-hour default token lifetime.
const DefaultRefreshIn = 48 * time.Minute

// The shipped scripts are generated: tools/snippet/build.mjs bundles and
// minifies snippet.js, snippet_common.js and snippet_shutdown.js with a
// pinned esbuild into snippet_gen.json, which is committed and embedded
// here. TestSnippetGenerated fails when a source no longer matches the
// hashes recorded in it.
//
//go:generate sh -c "cd ../tools/snippet && { test -d node_modules/esbuild || npm ci --no-audit --no-fund --prefer-offline; } && node build.mjs"
//go:embed snippet_gen.json
var generatedJSON []byte

// generatedSnippet is the shape of snippet_gen.json.
type generatedSnippet struct {
	Esbuild  string            `json:"esbuild"`
	Sources  map[string]string `json:"sources"` // input path -> SHA-256 (hex)
	Shutdown string            `json:"shutdown"`
	// Variants are indexed by the feature bits of snippetVariant. Each is
	// the minified snippet cut where the settings and the options go.
	Variants []snippetPieces `json:"variants"`
}

type snippetPieces struct {
	Features string `json:"features"`
	Prefix   string `json:"prefix"`
	Between  string `json:"between"`
	Suffix   string `json:"suffix"`
}

// Feature bits of a variant, in the order build.mjs numbers them.
const (
	featureLoader = 1 << iota
	featureRefresh
	featureSalesforce
	featureShutdown
	featureCount = 4
)

var (
	generated      = mustParseGenerated(generatedJSON)
	shutdownScript = generated.Shutdown
)

func mustParseGenerated(data []byte) generatedSnippet {
	var g generatedSnippet
	if err := json.Unmarshal(data, &g); err != nil {
		panic("injector: snippet_gen.json: " + err.Error())
	}
	if len(g.Variants) != 1<<featureCount || g.Shutdown == "" {
		panic("injector: snippet_gen.json is incomplete; run go generate ./injector")
	}
	return g
}

// snippetVariant picks the smallest script that can do what the page
// needs: code for the loader, the refresh, Salesforce and the shutdown is
// left out of pages that cannot use it.
func snippetVariant(s Settings, opts SnippetOptions) *snippetPieces {
	bits := 0
	if opts.Loader {
		bits |= featureLoader
	}
	if opts.Endpoint != "" {
		bits |= featureRefresh
	}
	if s.SalesforceIdentityToken != "" {
		bits |= featureSalesforce
	}
	if opts.Shutdown {
		bits |= featureShutdown
	}
	return &generated.Variants[bits]
}

// ScriptBody returns the JavaScript for the page (without the <script> tag):
// it gives the page window.intercomSettings with app_id, api_base, user_id,
// intercom_user_jwt and, when set, email, name, salesforce_identity_token and
// user_hash (api_base and intercom_user_jwt are omitted when empty), and
// keeps them authoritative whatever the page's own code does. The result is
// ASCII-only and safe inside a <script> element, so its CSP hash does not
// depend on the page's encoding. The code is the generated variant with
// only the features the page can use (see snippetVariant).
//
// With an empty s.UserID there is no identity to hand over: the result is
// the small shutdown-only script when opts.Shutdown is set, else nil
// (nothing to inject).
//
// Behaviour in the browser, whatever order the page's code runs in (the
// built-ins the script relies on are captured when it starts, so a page that
// later patches Reflect.apply, Object.defineProperty, JSON or fetch does not
// change it):
//
//   - window.intercomSettings is a non-configurable accessor. An object the
//     page assigns (before or after the script, or with a top-level var) is
//     copied, keys and values, into an object of the script's own (the
//     page's could be a Proxy that lies); on it, and on the page's object
//     where possible, the trusted keys are non-configurable accessors that
//     read the trusted values and ignore writes. Keys the page adds later
//     through window.intercomSettings are kept; keys it adds to its own
//     object after assigning it are not seen.
//   - window.Intercom is a non-configurable accessor whose getter returns a
//     Proxy around the function last assigned (the loader's queue, the
//     widget): 'boot' and 'update' calls get the trusted keys, also 'update'
//     with no argument, merged into a fresh object as own data properties
//     (a setter on Object.prototype never sees them).
//   - An explicit Intercom('shutdown') by the page ends the edge identity
//     for this page: it reaches the widget, and later calls (an SPA that
//     logs out and boots anonymous) pass through as the page wrote them,
//     until the next page load.
//   - Shutdown: the first function assigned to window.Intercom is called
//     with 'shutdown' before anything else reaches it (on the loader's queue
//     that makes it the first queued call); Salesforce's
//     userVerificationAPI.clearSession(true) runs on the first
//     onEmbeddedMessagingReady.
//   - Endpoint: after RefreshIn, GET location.origin + Endpoint (never a
//     path relative to a <base>) with credentials and mode 'same-origin',
//     redirect 'error' and cache 'no-store'; on 200 for the same user_id,
//     the token values that were present at boot (intercom_user_jwt,
//     salesforce_identity_token, user_hash) are replaced and nothing else,
//     Intercom('update', {intercom_user_jwt}) is called (the proxy adds the
//     rest), Salesforce gets the new token if it is ready, and the next
//     refresh comes at 80% of the time left until expires_at, measured
//     against the response's Date header so a skewed client clock does not
//     matter. A page shown again after sleep refreshes at once if overdue.
//     A 401, or a different user_id (a user switch in another tab), calls
//     Intercom('shutdown') and clearSession(true), drops the identity from
//     the settings and stops; other failures are retried 5 times (2 s, 4 s,
//     8 s, 16 s, 32 s) and then given up.
//     On onEmbeddedMessagingIdentityTokenExpired it refreshes at once and
//     hands the fresh token to userVerificationAPI.setIdentityToken, at most
//     3 attempts until the event has been quiet for 60 s; without Endpoint
//     it hands Salesforce the page's token once.
//
// For tests and support the script keeps window.__intercomEdge =
// {loader, log}: loader is true once the script installed the loader; log
// lists short event names, never a token: shutdown (a shutdown made by the
// script), sf:ask (a Salesforce expiry event answered), refresh, retry (a
// failed refresh), error.
func ScriptBody(s Settings, opts SnippetOptions) []byte {
	if s.UserID == "" && !opts.Shutdown {
		return nil
	}
	return AppendScriptBody(make([]byte, 0, ScriptBodySize(s, opts)), s, opts)
}

// ScriptBodySize is the usual length of ScriptBody(s, opts) (exact unless
// values need many escapes), for callers that size a pooled buffer.
func ScriptBodySize(s Settings, opts SnippetOptions) int {
	if s.UserID == "" {
		return len(shutdownScript)
	}
	v := snippetVariant(s, opts)
	return len(v.Prefix) + len(v.Between) + len(v.Suffix) + 180 +
		jsonStrCap(s.AppID) + jsonStrCap(s.APIBase) + jsonStrCap(s.UserID) +
		jsonStrCap(s.Email) + jsonStrCap(s.Name) +
		jsonStrCap(s.IntercomUserJWT) + jsonStrCap(s.SalesforceIdentityToken) +
		jsonStrCap(s.UserHash) + jsonStrCap(opts.Endpoint)
}

// AppendScriptBody appends ScriptBody(s, opts) to dst and returns the
// extended slice, so a caller can reuse a pooled buffer: the static script
// is copied once and the per-request values are encoded straight into dst,
// with no allocation when dst has room.
func AppendScriptBody(dst []byte, s Settings, opts SnippetOptions) []byte {
	if s.UserID == "" {
		if opts.Shutdown {
			return append(dst, shutdownScript...)
		}
		return dst
	}
	v := snippetVariant(s, opts)
	b := append(dst, v.Prefix...)

	b = AppendSettingsJSON(b, s)
	b = append(b, v.Between...)
	b = append(b, `{"path":`...)
	b = appendJSString(b, opts.Endpoint)
	b = append(b, `,"refresh_in":`...)
	refresh := opts.RefreshIn
	if refresh <= 0 {
		refresh = DefaultRefreshIn
	}
	b = strconv.AppendInt(b, refresh.Milliseconds(), 10)
	if opts.Shutdown {
		// Only a mark for tests and support: the shutdown is the variant's
		// code.
		b = append(b, `,"shutdown":true`...)
	}
	b = append(b, '}')
	return append(b, v.Suffix...)
}

// jsonStrCap is the room a JSON string usually takes: quotes, key and a
// little slack for escapes. Only a capacity hint; appends grow if needed.
func jsonStrCap(s string) int { return len(s) + len(s)>>3 + 8 }

// ScriptTag wraps body (from ScriptBody) in a <script> element, with a nonce
// attribute when nonce is a valid CSP nonce value (base64 or base64url
// characters, optional "=" padding). Anything else is dropped rather than
// escaped: the nonce comes from an upstream header, and no bytes that could
// end the attribute or the tag may reach the page.
func ScriptTag(body []byte, nonce string) []byte {
	n := len(`<script nonce=""></script>`) + len(nonce) + len(body)
	return AppendScriptTag(make([]byte, 0, n), body, nonce)
}

// AppendScriptTag appends ScriptTag(body, nonce) to dst, for callers that
// reuse a buffer.
func AppendScriptTag(dst, body []byte, nonce string) []byte {
	dst = appendScriptOpen(dst, nonce)
	dst = append(dst, body...)
	return append(dst, "</script>"...)
}

// appendScriptOpen appends the start tag, with the nonce when it is one a
// CSP can name.
func appendScriptOpen(dst []byte, nonce string) []byte {
	if validNonce(nonce) {
		dst = append(dst, `<script nonce="`...)
		dst = append(dst, nonce...)
		return append(dst, `">`...)
	}
	return append(dst, "<script>"...)
}

// The CDATA wrapping of a script in an XHTML document (application/xhtml+xml,
// parsed as XML): the body's "<" and "&" are then text, not markup. The
// markers sit behind "//" so that the element still runs if the document is
// ever parsed as HTML.
const (
	xhtmlOpen  = "//<![CDATA[\n"
	xhtmlClose = "\n//]]>"
)

// IsXHTML reports whether a Content-Type is application/xhtml+xml, which
// browsers parse as XML: the injected element must then be well-formed XML
// (AppendXHTMLScriptTag) and its CSP hash is over XHTMLScriptText.
func IsXHTML(contentType string) bool {
	base, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(base), "application/xhtml+xml")
}

// AppendXHTMLScriptTag is AppendScriptTag for an XHTML page: the body goes
// inside "//<![CDATA[" … "//]]>", and a "]]>" inside it (ScriptBody never
// has one; this is for any body) is split across two CDATA sections, so
// the element's text is still exactly XHTMLScriptText(body).
func AppendXHTMLScriptTag(dst, body []byte, nonce string) []byte {
	dst = appendScriptOpen(dst, nonce)
	dst = append(dst, xhtmlOpen...)
	for {
		i := bytes.Index(body, []byte("]]>"))
		if i < 0 {
			break
		}
		dst = append(dst, body[:i+2]...)
		dst = append(dst, "]]><![CDATA["...)
		body = body[i+2:]
	}
	dst = append(dst, body...)
	dst = append(dst, xhtmlClose...)
	return append(dst, "</script>"...)
}

// AppendScriptElement appends the script element for a page of either
// kind: AppendXHTMLScriptTag when xhtml (see IsXHTML), else AppendScriptTag.
func AppendScriptElement(dst, body []byte, nonce string, xhtml bool) []byte {
	if xhtml {
		return AppendXHTMLScriptTag(dst, body, nonce)
	}
	return AppendScriptTag(dst, body, nonce)
}

// ScriptText returns the text of the element AppendScriptElement writes, the
// input of its CSP hash: body itself for HTML, XHTMLScriptText for XHTML.
func ScriptText(body []byte, xhtml bool) []byte {
	if xhtml {
		return XHTMLScriptText(body)
	}
	return body
}

// XHTMLScriptText returns the text an XML parser gives the element that
// AppendXHTMLScriptTag writes: the CDATA markers are markup, the "//" before
// them and the newlines are text. This is what the browser runs and what a
// CSP hash must cover.
func XHTMLScriptText(body []byte) []byte {
	text := make([]byte, 0, len(body)+6)
	text = append(text, "//\n"...)
	text = append(text, body...)
	return append(text, "\n//"...)
}

// validNonce reports whether v matches CSP's base64-value grammar:
// 1*( ALPHA / DIGIT / "+" / "/" / "-" / "_" ) *2"=".
func validNonce(v string) bool {
	i := 0
	for i < len(v) && isB64Char(v[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	pad := len(v) - i
	return pad <= 2 && strings.Count(v[i:], "=") == pad
}

func isB64Char(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '+' || c == '/' || c == '-' || c == '_'
}

// ScriptHash returns the CSP hash source for body, 'sha256-<std base64>',
// which lets exactly this inline script run under a policy that has no
// nonce for it.
func ScriptHash(body []byte) string {
	sum := sha256.Sum256(body)
	var b [len("'sha256-'") + 44]byte
	n := copy(b[:], "'sha256-")
	base64.StdEncoding.Encode(b[n:], sum[:])
	b[len(b)-1] = '\''
	return string(b[:])
}
