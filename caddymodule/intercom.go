package caddymodule

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
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
	metrics    *metrics
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

// ServeHTTP strips forged identity headers, and for identified page requests
// wraps the response so that HTML pages get the signed settings injected.
// Everything else passes through without any wrapping.
func (h *Intercom) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	h.identity.screen(r)
	if h.Endpoint != "" && r.URL.Path == h.Endpoint {
		return h.serveEndpoint(w, r)
	}
	if h.jwksDoc != nil && r.URL.Path == h.Salesforce.JWKS {
		return h.serveJWKS(w, r)
	}
	if !rewritable(r) {
		return next.ServeHTTP(w, r)
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	id := h.resolveIdentity(repl)
	marker := markerOf(r)
	if id.UserID == "" && marker == "" {
		// Anonymous, and no identified session to clear: untouched.
		h.metrics.responses.WithLabelValues(outcomeAnonymous).Inc()
		return next.ServeHTTP(w, r)
	}

	// The upstream must answer with a full, uncompressed body: Caddy's
	// encode handler compresses our output, and no 206/304 may hand back a
	// page that was rendered (and cached) for someone else.
	for _, name := range strippedRequestHeaders {
		r.Header.Del(name)
	}

	rw := newInjectingWriter(w, r, h, id, marker)
	defer rw.release()
	err := next.ServeHTTP(rw, r)
	return rw.finish(err)
}

// strippedRequestHeaders are removed from requests whose response may be
// rewritten.
var strippedRequestHeaders = []string{"Accept-Encoding", "Range", "If-Range", "If-None-Match", "If-Modified-Since"}

// rewritable reports whether the response to r may be an HTML page we inject
// into: a GET that is not a websocket upgrade nor an event stream.
func rewritable(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	for _, accept := range r.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(accept), "text/event-stream") {
			return false
		}
	}
	return true
}

// resolveIdentity evaluates the identity placeholders for this request.
// Unknown placeholders are empty, so an auth handler that did not run leaves
// the request anonymous instead of signing the placeholder's text.
func (h *Intercom) resolveIdentity(repl *caddy.Replacer) injector.Identity {
	id := injector.Identity{UserID: repl.ReplaceAll(h.UserID, "")}
	if id.UserID == "" {
		return id
	}
	if h.Email != "" {
		id.Email = repl.ReplaceAll(h.Email, "")
	}
	if h.Name != "" {
		id.Name = repl.ReplaceAll(h.Name, "")
	}
	if len(h.attrNames) > 0 {
		id.Attributes = make([]injector.Attribute, 0, len(h.attrNames))
		for _, name := range h.attrNames {
			if v := repl.ReplaceAll(h.Attributes[name], ""); v != "" {
				id.Attributes = append(id.Attributes, injector.Attribute{Name: name, Value: v})
			}
		}
	}
	if h.Salesforce != nil && h.Salesforce.Subject != "" {
		id.SalesforceSubject = repl.ReplaceAll(h.Salesforce.Subject, "")
	}
	return id
}

// markerOf returns the request's session marker cookie, "" when absent.
func markerOf(r *http.Request) string {
	c, err := r.Cookie(injector.MarkerCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// settings signs the tokens for id and says when the first of them expires.
// It is called only once a response is known to be an HTML page (or for the
// token endpoint), so assets never pay for signing.
func (h *Intercom) settings(id injector.Identity) (injector.Settings, time.Time, error) {
	start := time.Now()
	tok, err := h.intercom.Sign(id)
	h.metrics.sign.WithLabelValues(tokenIntercom).Observe(time.Since(start).Seconds())
	if err != nil {
		return injector.Settings{}, time.Time{}, fmt.Errorf("signing intercom_user_jwt: %w", err)
	}
	expires := tok.ExpiresAt
	s := injector.Settings{
		AppID:           h.AppID,
		APIBase:         h.apiBase,
		UserID:          id.UserID,
		Email:           id.Email, // locked in the page like the identity
		Name:            id.Name,
		IntercomUserJWT: tok.Value,
	}
	if h.UserHash {
		s.UserHash = h.intercom.UserHash(id.UserID)
	}
	if h.salesforce != nil {
		sf, err := h.salesforceToken(id.Subject())
		if err != nil {
			return injector.Settings{}, time.Time{}, fmt.Errorf("signing salesforce_identity_token: %w", err)
		}
		s.SalesforceIdentityToken = sf.Value
		if sf.ExpiresAt.Before(expires) {
			expires = sf.ExpiresAt
		}
	}
	return s, expires, nil
}

// salesforceToken signs a token for subject, or reuses a recent one when
// `reuse` is configured.
func (h *Intercom) salesforceToken(subject string) (injector.Token, error) {
	if h.sfCache != nil {
		if tok, ok := h.sfCache.Get(subject, h.salesforce.KeyID()); ok {
			return tok, nil
		}
	}
	start := time.Now()
	tok, err := h.salesforce.Sign(subject)
	h.metrics.sign.WithLabelValues(tokenSalesforce).Observe(time.Since(start).Seconds())
	if err == nil && h.sfCache != nil {
		h.sfCache.Put(subject, h.salesforce.KeyID(), tok)
	}
	return tok, err
}

// logOutcome records one rewritten-or-not response.
func (h *Intercom) logOutcome(outcome string, err error) {
	h.metrics.responses.WithLabelValues(outcome).Inc()
	if err != nil {
		h.logger.Error("page served untouched", zap.String("outcome", outcome), zap.Error(err))
		return
	}
	if c := h.logger.Check(zapcore.DebugLevel, "intercom response"); c != nil {
		c.Write(zap.String("outcome", outcome))
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Intercom)(nil)
	_ caddy.Validator             = (*Intercom)(nil)
	_ caddyhttp.MiddlewareHandler = (*Intercom)(nil)
)
