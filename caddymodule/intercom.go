package caddymodule

import (
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-intercom/caddy-intercom/injector"
)

func init() {
	caddy.RegisterModule(Intercom{})
}

// apiBases maps the `region` sub-directive to the Messenger's api_base.
var apiBases = map[string]string{
	"us": "https://api-iam.intercom.io",
	"eu": "https://api-iam.eu.intercom.io",
	"au": "https://api-iam.au.intercom.io",
}

// appIDPattern is what a workspace ID looks like; it ends up in a cookie
// name and a script URL, so nothing else is accepted.
var appIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Intercom identifies the Intercom Messenger on HTML pages served through it:
// it reads the verified user from the request, signs the Intercom (and
// optionally Salesforce) tokens and injects window.intercomSettings into the
// page as it streams to the client.
//
// It is secure by default: identity read from request headers is honoured
// only from trusted peers, rewritten pages are never cacheable, and a page it
// cannot rewrite is served untouched rather than failed.
type Intercom struct {
	// The Intercom workspace (app) ID. Required.
	AppID string `json:"app_id,omitempty"`
	// us, eu or au: selects api_base. Default us.
	Region string `json:"region,omitempty"`
	// Overrides the api_base derived from the region.
	APIBase string `json:"api_base,omitempty"`
	// The Messenger API secret. Normally {env.NAME} or {file.path}, resolved
	// once at provision. Required.
	Secret string `json:"secret,omitempty"`
	// The user's ID, usually a placeholder such as {http.auth.user.id}.
	// Evaluated per request; an empty result means an anonymous visitor.
	UserID string `json:"user_id,omitempty"`
	// Optional e-mail and name, signed into the JWT.
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	// Further claims signed into the JWT, by claim name.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Who may supply identity request headers: CIDR ranges or IPs, or
	// "private_ranges". ("route" is refused: see errTrustRoute.)
	Trust []string `json:"trust,omitempty"`
	// Lifetime of the Intercom JWT. Default 1h.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// Also emit the legacy Identity Verification user_hash.
	UserHash bool `json:"user_hash,omitempty"`
	// Install the Messenger loader on pages that have none.
	Loader bool `json:"loader,omitempty"`
	// Salesforce Enhanced Chat identity token.
	Salesforce *Salesforce `json:"salesforce,omitempty"`
	// Path at which the edge answers single-page apps with fresh tokens as
	// JSON; also makes injected pages refresh their tokens before expiry.
	Endpoint string `json:"endpoint,omitempty"`

	apiBase    string
	identity   identitySource
	intercom   *injector.IntercomSigner
	salesforce *injector.SalesforceSigner
	sfCache    *injector.TokenCache // nil without reuse
	jwksDoc    []byte               // served at Salesforce.JWKS
	attrNames  []string
	marker     injector.SessionMarker
	logger     *zap.Logger

	// The request path, prepared once by provisionRequestPath.
	requestPath
}

// Salesforce configures the salesforce_identity_token.
type Salesforce struct {
	// RSA private key as PEM (PKCS#1 or PKCS#8), normally {file.path}.
	PrivateKey string `json:"private_key,omitempty"`
	// The key ID registered in the Salesforce keyset (header kid).
	KeyID string `json:"key_id,omitempty"`
	// The keyset's issuer (claim iss).
	Issuer string `json:"issuer,omitempty"`
	// The token subject; default the user_id value.
	Subject string `json:"subject,omitempty"`
	// Optional aud claim.
	Audience string `json:"audience,omitempty"`
	// RS256 (default) or RS512.
	Algorithm string `json:"algorithm,omitempty"`
	// Token lifetime. Default 1h.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// Reuse a subject's token while it was issued less than this ago, so it
	// always has at least ttl − reuse left. Default 0: sign on every page.
	Reuse caddy.Duration `json:"reuse,omitempty"`
	// How many subjects' tokens to keep for reuse. Default 10 000.
	CacheSize int `json:"cache_size,omitempty"`
	// The public certificate of the signing key (PEM, normally
	// {file.path}); checked to match private_key.
	Certificate string `json:"certificate,omitempty"`
	// Certificates of earlier keys, still published in the JWKS during a
	// rotation.
	PreviousCertificates []PreviousCertificate `json:"previous_certificates,omitempty"`
	// Path at which the edge serves the public JWKS (current + previous
	// keys) for Salesforce's "Endpoint URL" keyset type.
	JWKS string `json:"jwks,omitempty"`
}

// PreviousCertificate is a retired key's certificate and kid.
type PreviousCertificate struct {
	// PEM, normally {file.path}.
	Certificate string `json:"certificate"`
	// The key's kid; default: derived from a {file.…} path as
	// `caddy intercom keygen` names files (KID.cert.pem).
	KeyID string `json:"key_id,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Intercom) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.intercom",
		New: func() caddy.Module { return new(Intercom) },
	}
}

// requestPath is what the handler prepares once, at provision, so that a
// request does no label lookup, no closure allocation and no parsing of the
// configured placeholders.
type requestPath struct {
	tokens  *injector.Tokens
	metrics *handlerMetrics
	// The narrow functions the response writer gets instead of *Intercom,
	// bound once (a method value bound per request would allocate).
	script  pageScript
	outcome outcomeFunc
	// The identity values, parsed.
	userID, email, name, sfSubject placeholderValue
	attrValues                     []placeholderValue // by attrNames
	// anonymousNoted: the first anonymous request with an identity header
	// since this config was loaded has been logged at info. A pointer: the
	// module value is copied by CaddyModule.
	anonymousNoted *atomic.Bool
}

// provisionRequestPath prepares the request path once Provision has built
// the signers; it runs at the end of Provision.
func (h *Intercom) provisionRequestPath(ctx caddy.Context) error {
	m, err := newHandlerMetrics(ctx.GetMetricsRegistry(), h.AppID)
	if err != nil {
		return err
	}
	h.metrics = m
	h.tokens = &injector.Tokens{
		AppID:      h.AppID,
		APIBase:    h.apiBase,
		Intercom:   h.intercom,
		UserHash:   h.UserHash,
		Salesforce: h.salesforce,
		Reuse:      h.sfCache,
		Signed:     m.signed,
		Reused:     m.reused,
	}
	h.script = h.pageScript
	h.anonymousNoted = new(atomic.Bool)
	h.outcome = h.recordOutcome
	h.userID = parsePlaceholderValue(h.UserID)
	h.email = parsePlaceholderValue(h.Email)
	h.name = parsePlaceholderValue(h.Name)
	h.attrValues = make([]placeholderValue, len(h.attrNames))
	for i, name := range h.attrNames {
		h.attrValues[i] = parsePlaceholderValue(h.Attributes[name])
	}
	if h.Salesforce != nil && h.Salesforce.Subject != "" {
		h.sfSubject = parsePlaceholderValue(h.Salesforce.Subject)
	}
	return nil
}

// ServeHTTP strips forged identity headers, answers the token endpoint and
// the JWKS path, and for identified page requests wraps the response so
// that an HTML page gets the signed settings injected and the page policy
// applied. Everything else passes through without any wrapping.
func (h *Intercom) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	headerSeen, refused := h.identity.screen(r)
	if h.Endpoint != "" && r.URL.Path == h.Endpoint {
		return h.serveEndpoint(w, r, headerSeen, refused)
	}
	if h.jwksDoc != nil && r.URL.Path == h.Salesforce.JWKS {
		return h.serveJWKS(w, r)
	}
	if !rewritable(r) {
		return next.ServeHTTP(w, r)
	}
	// Identity is resolved now, before the next handler runs, never later
	// at WriteHeader: reverse_proxy sets {http.reverse_proxy.header.*} to
	// the proxied app's response headers, so a lazy read of forward_auth's
	// identity placeholders would let the app choose whom to sign for.
	id := h.resolveIdentity(r)
	marker := markerOf(r)
	if id.UserID == "" {
		if headerSeen {
			h.noteAnonymous(r, refused)
		}
		if marker == "" {
			// Anonymous, and no identified session to clear: untouched.
			h.metrics.response(outcomeAnonymous)
			return next.ServeHTTP(w, r)
		}
	}

	// The upstream must answer with a full, uncompressed body: Caddy's
	// encode handler compresses our output, and no 206/304 may hand back a
	// page that was rendered (and cached) for someone else. A HEAD asks
	// the same, so that its headers are the GET's.
	for _, name := range strippedRequestHeaders {
		delete(r.Header, name)
	}

	rw := newInjectingWriter(w, r, h, id, marker)
	defer rw.release()
	err := next.ServeHTTP(rw, r)
	return rw.finish(err)
}

// strippedRequestHeaders are removed from requests whose response may be
// rewritten (canonical names: deleted from the map directly).
var strippedRequestHeaders = [...]string{"Accept-Encoding", "Range", "If-Range", "If-None-Match", "If-Modified-Since"}

// rewritable reports whether the response to r may be an HTML page we inject
// into (GET) or apply the page policy to (HEAD): not a websocket upgrade nor
// an event stream.
func rewritable(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if len(r.Header["Upgrade"]) != 0 {
		return false
	}
	for _, accept := range r.Header["Accept"] {
		if containsFoldASCII(accept, "text/event-stream") {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether s contains the lower-case ASCII sub,
// ignoring ASCII case in s, without allocating.
func containsFoldASCII(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if injector.EqualFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// placeholderValue is a configured identity value, parsed once: when the
// whole value is one placeholder, its key is looked up directly (no
// builder, no copy); anything else goes through ReplaceAll.
type placeholderValue struct {
	text string // as configured ("" = not configured)
	key  string // the placeholder's key when text is exactly "{key}"
}

func parsePlaceholderValue(text string) placeholderValue {
	v := placeholderValue{text: text}
	if len(text) > 2 && text[0] == '{' && text[len(text)-1] == '}' && !strings.ContainsAny(text[1:len(text)-1], "{}\\") {
		v.key = text[1 : len(text)-1]
	}
	return v
}

// resolve evaluates the value for one request. Unknown placeholders are
// empty, so an auth handler that did not run leaves the request anonymous
// instead of signing the placeholder's text.
func (v placeholderValue) resolve(repl *caddy.Replacer) string {
	if v.text == "" {
		return ""
	}
	if v.key != "" {
		val, ok := repl.Get(v.key)
		if !ok || val == nil {
			return ""
		}
		if s, ok := val.(string); ok {
			return s
		}
	}
	return repl.ReplaceAll(v.text, "")
}

// resolveIdentity evaluates the identity placeholders for this request.
// The Salesforce subject is the configured subject when there is one (and
// then "" when it is empty: never the user id), else the user id.
func (h *Intercom) resolveIdentity(r *http.Request) injector.Identity {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	id := injector.Identity{UserID: h.userID.resolve(repl)}
	if id.UserID == "" {
		return id
	}
	id.Email = h.email.resolve(repl)
	id.Name = h.name.resolve(repl)
	if len(h.attrValues) > 0 {
		id.Attributes = make([]injector.Attribute, 0, len(h.attrValues))
		for i, v := range h.attrValues {
			if val := v.resolve(repl); val != "" {
				id.Attributes = append(id.Attributes, injector.Attribute{Name: h.attrNames[i], Value: val})
			}
		}
	}
	if h.salesforce != nil {
		if h.sfSubject.text != "" {
			id.SalesforceSubject = h.sfSubject.resolve(repl)
		} else {
			id.SalesforceSubject = id.UserID
		}
	}
	return id
}

// noteAnonymous explains an anonymous request that did carry an identity
// header: a wrong `trust` range or a placeholder that reads another header
// otherwise makes every user silently anonymous. The first time after a
// config load it logs at info, then at debug. Never a header value.
func (h *Intercom) noteAnonymous(r *http.Request, refused string) {
	level := zapcore.DebugLevel
	if !h.anonymousNoted.Load() && h.anonymousNoted.CompareAndSwap(false, true) {
		level = zapcore.InfoLevel
	}
	c := h.logger.Check(level, "identity header present but the request is anonymous")
	if c == nil {
		return
	}
	why := "user_id resolved empty although an identity header was sent: the placeholder reads another source, or the header is empty"
	switch refused {
	case reasonUntrustedPeer:
		why = "the peer is not in `trust`, so its identity headers were removed; set trust to the address of the proxy that sets them"
	case reasonDuplicateHeader:
		why = "an identity header arrived as more than one field line, so the identity headers were removed"
	}
	c.Write(zap.String("placeholder", h.UserID),
		zap.Strings("identity_headers", h.identity.headers),
		zap.String("remote_addr", r.RemoteAddr),
		zap.String("why", why),
		zap.Bool("first_since_config_load", level == zapcore.InfoLevel))
}

// markerOf returns the request's session marker cookie, "" when absent.
// It reads only the Cookie lines that mention the marker, without parsing
// every cookie of the request into a slice as r.Cookie does.
func markerOf(r *http.Request) string {
	for _, line := range r.Header["Cookie"] {
		if !strings.Contains(line, injector.MarkerCookie) {
			continue
		}
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && name == injector.MarkerCookie {
				return strings.Trim(value, `"`)
			}
		}
	}
	return ""
}

// pageScript decides the session hygiene for a page served to id whose
// request carried marker and, unless headOnly, signs the tokens and appends
// the page's script body to dst: for an anonymous visitor with a stale
// session only the shutdown. It is the one signing function the response
// writer gets.
type pageScript func(dst []byte, id injector.Identity, marker string, headOnly bool) ([]byte, injector.Hygiene, error)

// outcomeFunc records what became of a response (err: why it is served
// untouched).
type outcomeFunc func(o outcome, err error)

// pageScript is the handler's pageScript; see the type.
func (h *Intercom) pageScript(dst []byte, id injector.Identity, marker string, headOnly bool) ([]byte, injector.Hygiene, error) {
	hy := h.marker.Decide(id.UserID, marker)
	if headOnly {
		return dst, hy, nil
	}
	if id.UserID == "" {
		return injector.AppendScriptBody(dst, injector.Settings{AppID: h.AppID, APIBase: h.apiBase}, injector.SnippetOptions{Shutdown: true}), hy, nil
	}
	settings, expires, err := h.sign(id)
	if err != nil {
		return dst, hy, err
	}
	opts := injector.SnippetOptions{Loader: h.Loader, Shutdown: hy.Shutdown}
	if h.Endpoint != "" {
		opts.Endpoint = h.Endpoint
		opts.RefreshIn = injector.RefreshIn(time.Now(), expires)
	}
	return injector.AppendScriptBody(dst, settings, opts), hy, nil
}

// sign signs id's tokens for a page or the endpoint, and accounts for a
// configured Salesforce subject that was empty.
func (h *Intercom) sign(id injector.Identity) (injector.Settings, time.Time, error) {
	if h.salesforce != nil && id.SalesforceSubject == "" {
		h.metrics.subjectMissing.Inc()
		if c := h.logger.Check(zapcore.DebugLevel, "salesforce subject is empty: no salesforce_identity_token for this request"); c != nil {
			c.Write(zap.String("placeholder", h.sfSubject.text))
		}
	}
	return h.tokens.Settings(id)
}

// recordOutcome counts and logs one response; it is the outcomeFunc.
func (h *Intercom) recordOutcome(o outcome, err error) {
	h.metrics.response(o)
	if err != nil {
		h.logger.Error("page served untouched", zap.Stringer("outcome", o), zap.Error(err))
		return
	}
	if c := h.logger.Check(zapcore.DebugLevel, "intercom response"); c != nil {
		c.Write(zap.Stringer("outcome", o))
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Intercom)(nil)
	_ caddy.Validator             = (*Intercom)(nil)
	_ caddyhttp.MiddlewareHandler = (*Intercom)(nil)
)
