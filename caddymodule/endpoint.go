package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// endpointResponse is the token endpoint's JSON: the keys of
// intercomSettings plus expires_at, so that a single-page app can call
// Intercom('boot', await res.json()) as is.
type endpointResponse struct {
	AppID                   string `json:"app_id"`
	APIBase                 string `json:"api_base"`
	UserID                  string `json:"user_id"`
	IntercomUserJWT         string `json:"intercom_user_jwt"`
	SalesforceIdentityToken string `json:"salesforce_identity_token,omitempty"`
	UserHash                string `json:"user_hash,omitempty"`
	ExpiresAt               int64  `json:"expires_at"`
}

// serveEndpoint answers the token endpoint at the edge; the request never
// reaches the upstream.
func (h *Intercom) serveEndpoint(w http.ResponseWriter, r *http.Request) error {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")

	switch {
	case r.Method != http.MethodGet:
		hdr.Set("Allow", http.MethodGet)
		return writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
	case r.Header.Get("Sec-Fetch-Site") == "cross-site":
		// Tokens are for this site's pages only; a cross-site fetch could
		// otherwise read them with the user's cookies.
		return writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross_site"})
	}

	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	id := h.resolveIdentity(repl)
	if id.UserID == "" {
		return writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not_identified"})
	}
	s, expires, err := h.settings(id)
	if err != nil {
		h.logOutcome(outcomeError, err)
		return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "signing_failed"})
	}
	return writeJSON(w, http.StatusOK, endpointResponse{
		AppID:                   s.AppID,
		APIBase:                 s.APIBase,
		UserID:                  s.UserID,
		IntercomUserJWT:         s.IntercomUserJWT,
		SalesforceIdentityToken: s.SalesforceIdentityToken,
		UserHash:                s.UserHash,
		ExpiresAt:               expires.Unix(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

// refreshIn is when an injected page should fetch fresh tokens: at 80% of
// the lifetime its tokens have left.
func refreshIn(now, expires time.Time) time.Duration {
	return expires.Sub(now) * 4 / 5
}

// serveJWKS publishes the Salesforce verification keys for an "Endpoint URL"
// keyset. The document is public and changes only with the config.
func (h *Intercom) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		return writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
	}
	hdr.Set("Cache-Control", "public, max-age=300")
	hdr.Set("Content-Length", strconv.Itoa(len(h.jwksDoc)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(h.jwksDoc)
	return err
}
