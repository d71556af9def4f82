package injector

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Settings are the trusted values the edge puts into window.intercomSettings.
// Only these reach the page as plain settings: email, name and custom
// attributes travel inside IntercomUserJWT, as Intercom recommends, so that a
// page script cannot read or alter them apart from the signed token.
type Settings struct {
	AppID, APIBase, UserID            string
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

// The script sources, embedded so the JavaScript stays readable and
// testable on its own; compacted once at init (see compactJS).
var (
	//go:embed snippet.js
	snippetSource string
	//go:embed snippet_shutdown.js
	shutdownSource string

	// snippetPrefix is the function expression plus the opening "(" of its
	// call; ScriptBody appends the two JSON arguments and snippetSuffix.
	snippetPrefix  = compactJS(snippetSource) + "("
	shutdownScript = compactJS(shutdownSource)
)

const snippetSuffix = ");"

// compactJS drops whole-line // comments, then all whitespace outside
// string literals except one space between two identifier characters (or
// between "+ +" and "- -"). It is deliberately small (no full tokenizer: no
// regex literals, no template literals, no trailing comments, explicit
// semicolons), which is why snippet.js follows the build rules written at its
// top; TestSnippetSourceRules enforces them and the Node tests run the
// compacted output.
func compactJS(src string) string {
	var code strings.Builder
	code.Grow(len(src))
	for line := range strings.Lines(src) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		code.WriteString(line)
		code.WriteByte('\n')
	}
	in := code.String()
	out := make([]byte, 0, len(in))
	var quote byte // the quote of the string literal we are in, or 0
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case quote != 0:
			out = append(out, c)
			if c == '\\' && i+1 < len(in) {
				i++
				out = append(out, in[i])
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
			out = append(out, c)
		case c == ' ' || c == '\t' || c == '\n':
			if len(out) == 0 || i+1 >= len(in) {
				continue
			}
			p, n := out[len(out)-1], in[i+1]
			if isIdentChar(p) && isIdentChar(n) || (p == '+' || p == '-') && n == p {
				out = append(out, ' ')
			}
		default:
			out = append(out, c)
		}
	}
	return strings.TrimSpace(string(out))
}

func isIdentChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '$'
}

// ScriptBody returns the JavaScript for the page (without the <script> tag):
// it gives the page window.intercomSettings with app_id, api_base, user_id,
// intercom_user_jwt and, when set, salesforce_identity_token and user_hash
// (api_base and intercom_user_jwt are omitted when empty), and keeps them
// authoritative whatever the page's own code does. The result is ASCII-only
// and safe inside a <script> element, so its CSP hash does not depend on the
// page's encoding.
//
// With an empty s.UserID there is no identity to hand over: the result is
// the small shutdown-only script when opts.Shutdown is set, else nil
// (nothing to inject).
//
// Behaviour in the browser, whatever order the page's code runs in:
//
//   - window.intercomSettings is an accessor: an object the page assigns
//     (before or after the script, or with a top-level var) keeps its own
//     keys, but the trusted keys are accessors on it that read the trusted
//     values and ignore writes.
//   - window.Intercom is an accessor whose getter returns a Proxy around the
//     function last assigned (the loader's queue, the widget): 'boot' and
//     'update' calls get the trusted keys, also 'update' with no argument.
//   - Shutdown: the first function assigned to window.Intercom is called
//     with 'shutdown' before anything else reaches it (on the loader's queue
//     that makes it the first queued call); Salesforce's
//     userVerificationAPI.clearSession(true) runs on the first
//     onEmbeddedMessagingReady.
//   - Endpoint: after RefreshIn, GET the endpoint (same-origin credentials,
//     no-store); on 200 the trusted values are replaced,
//     Intercom('update', {intercom_user_jwt}) is called (the proxy adds the
//     rest), Salesforce gets the new token if it is ready, and the next
//     refresh comes at 80% of the time left until expires_at, measured
//     against the response's Date header so a skewed client clock does not
//     matter. A page shown again after sleep refreshes at once if overdue.
//     A 401, or a different user_id (a user switch in another tab), calls
//     Intercom('shutdown') and clearSession(true), drops the identity from
//     the settings and stops; other failures are retried 5 times (2 s, 4 s,
//     8 s, 16 s, 32 s) and then given up.
//     On onEmbeddedMessagingIdentityTokenExpired it fetches a fresh token for
//     userVerificationAPI.setIdentityToken, at most 3 attempts until the
//     event has been quiet for 60 s; without Endpoint it hands Salesforce
//     the page's token once.
//
// For browser tests the script keeps window.__intercomEdge =
// {refreshes, refreshFailures, sfAttempts, sfTokens, sfClears, shutdowns,
// loader, log}: counters of successful refreshes, failed refresh attempts,
// answered Salesforce expiry events, setIdentityToken calls, clearSession
// calls, Intercom('shutdown') calls made by the script, whether the script
// installed the loader, and the last 50 log entries (short event names,
// never a token).
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
	return len(snippetPrefix) + len(snippetSuffix) + 160 +
		jsonStrCap(s.AppID) + jsonStrCap(s.APIBase) + jsonStrCap(s.UserID) +
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
	b := append(dst, snippetPrefix...)

	b = append(b, `{"app_id":`...)
	b = appendJSString(b, s.AppID)
	if s.APIBase != "" {
		b = append(b, `,"api_base":`...)
		b = appendJSString(b, s.APIBase)
	}
	b = append(b, `,"user_id":`...)
	b = appendJSString(b, s.UserID)
	if s.IntercomUserJWT != "" {
		b = append(b, `,"intercom_user_jwt":`...)
		b = appendJSString(b, s.IntercomUserJWT)
	}
	if s.SalesforceIdentityToken != "" {
		b = append(b, `,"salesforce_identity_token":`...)
		b = appendJSString(b, s.SalesforceIdentityToken)
	}
	if s.UserHash != "" {
		b = append(b, `,"user_hash":`...)
		b = appendJSString(b, s.UserHash)
	}

	b = append(b, `},{"loader":`...)
	b = strconv.AppendBool(b, opts.Loader)
	b = append(b, `,"endpoint":`...)
	b = appendJSString(b, opts.Endpoint)
	b = append(b, `,"refresh_in":`...)
	refresh := opts.RefreshIn
	if refresh <= 0 {
		refresh = DefaultRefreshIn
	}
	b = strconv.AppendInt(b, refresh.Milliseconds(), 10)
	b = append(b, `,"shutdown":`...)
	b = strconv.AppendBool(b, opts.Shutdown)
	b = append(b, '}')
	return append(b, snippetSuffix...)
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
	if validNonce(nonce) {
		dst = append(dst, `<script nonce="`...)
		dst = append(dst, nonce...)
		dst = append(dst, `">`...)
	} else {
		dst = append(dst, "<script>"...)
	}
	dst = append(dst, body...)
	return append(dst, "</script>"...)
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
