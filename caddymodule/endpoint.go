package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-intercom/caddy-intercom/injector"
)

// serveEndpoint answers the token endpoint at the edge; the request never
// reaches the upstream. It answers only pages of its own origin: a token in
// a response another origin can read (with the user's cookies) is a token
// for the wrong party.
func (h *Intercom) serveEndpoint(w http.ResponseWriter, r *http.Request, headerSeen bool, refused string) error {
	hdr := w.Header()
	// CORS headers an earlier handler set for the site would let another
	// origin read the answer: the endpoint never carries any.
	for name := range hdr {
		if len(name) > len("Access-Control-") && injector.EqualFoldASCII(name[:len("Access-Control-")], "Access-Control-") {
			delete(hdr, name)
		}
	}
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")

	switch {
	case r.Method != http.MethodGet:
		hdr.Set("Allow", http.MethodGet)
		return h.endpointError(w, http.StatusMethodNotAllowed, "method_not_allowed")
	case !fromOwnOrigin(r):
		return h.endpointError(w, http.StatusForbidden, "cross_site")
	}

	id := h.resolveIdentity(r)
	if id.UserID == "" {
		if headerSeen {
			h.noteAnonymous(r, refused)
		}
		return h.endpointError(w, http.StatusUnauthorized, "not_identified")
	}
	s, expires, err := h.sign(id)
	if err != nil {
		h.logger.Error("token endpoint: signing failed", zap.Error(err))
		return h.endpointError(w, http.StatusServiceUnavailable, "signing_failed")
	}
	h.metrics.endpointAnswer(http.StatusOK)
	// The keys of intercomSettings plus expires_at, so that a single-page
	// app can call Intercom('boot', await res.json()) as is.
	body := injector.AppendSettingsJSON(make([]byte, 0, 1024), s)
	body = append(body[:len(body)-1], `,"expires_at":`...)
	body = strconv.AppendInt(body, expires.Unix(), 10)
	body = append(body, '}')
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}

// endpointError answers the token endpoint with an error code.
func (h *Intercom) endpointError(w http.ResponseWriter, status int, code string) error {
	h.metrics.endpointAnswer(status)
	return writeJSON(w, status, map[string]string{"error": code})
}

// fromOwnOrigin reports whether r comes from a page of the endpoint's own
// origin. Browsers say so in Sec-Fetch-Site: same-origin (a fetch from our
// page) or none (typed in, a bookmark); anything else, including same-site
// (a sibling subdomain), is refused. A client without fetch metadata is
// accepted when it sends no Origin (not a cross-origin browser request) or
// the request's own origin.
func fromOwnOrigin(r *http.Request) bool {
	site := r.Header["Sec-Fetch-Site"]
	if len(site) > 0 {
		return len(site) == 1 && (site[0] == "same-origin" || site[0] == "none")
	}
	origin := r.Header["Origin"]
	switch len(origin) {
	case 0:
		return true
	case 1:
		return isOwnOrigin(origin[0], r)
	}
	return false
}

// isOwnOrigin reports whether origin (scheme://host[:port]) names the
// request's own origin: its scheme (TLS or not) and Host, compared without
// ASCII case, a default port matching its absence.
func isOwnOrigin(origin string, r *http.Request) bool {
	scheme, port := "http://", ":80"
	if r.TLS != nil {
		scheme, port = "https://", ":443"
	}
	if len(origin) < len(scheme) || !injector.EqualFoldASCII(origin[:len(scheme)], scheme) {
		return false
	}
	origin = strings.TrimSuffix(origin[len(scheme):], port)
	host := strings.TrimSuffix(r.Host, port)
	return host != "" && injector.EqualFoldASCII(origin, host)
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

// serveJWKS publishes the Salesforce verification keys for an "Endpoint URL"
// keyset. The document is public and changes only with the config.
func (h *Intercom) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	h.metrics.jwks.Inc()
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
