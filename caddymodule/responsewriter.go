package caddymodule

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/internal/routevars"
)

// injectingWriter is the per-request response writer of the intercom handler.
// It decides at WriteHeader whether the response is a page to inject into,
// holds the status line until the rewriter has found the injection point (so
// that Content-Length, CSP and cache headers can still be changed), then
// streams the rest untouched.
type injectingWriter struct {
	*caddyhttp.ResponseWriterWrapper
	h       *Intercom
	id      injector.Identity
	marker  string           // the request's session marker cookie
	hygiene injector.Hygiene // decided with the page, from id and marker
	host    string           // request host, for the Messenger cookie's domain
	secure  bool             // request came over TLS: the marker cookie is Secure
	ctx     context.Context  // the request's, for the variables of later handlers

	wroteHeader bool
	status      int
	rewriter    *injector.Rewriter // nil: pass-through
	body, tag   *[]byte            // pooled: our script's body and <script> tag
	snippetLen  int
	plan        injector.CSPPlan
	gunzip      *gunzipPipe // non-nil when decoding an upstream's gzip
}

func newInjectingWriter(w http.ResponseWriter, r *http.Request, h *Intercom, id injector.Identity, marker string) *injectingWriter {
	return &injectingWriter{
		ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w},
		h:                     h,
		id:                    id,
		marker:                marker,
		host:                  r.Host,
		secure:                r.TLS != nil,
		ctx:                   r.Context(),
	}
}

// WriteHeader decides whether the response gets injected. 1xx responses are
// not final and pass straight through.
func (w *injectingWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	if status >= 100 && status <= 199 {
		w.ResponseWriterWrapper.WriteHeader(status)
		return
	}
	w.wroteHeader = true
	w.status = status

	outcome, err := w.prepare(status)
	if outcome != "" {
		w.h.logOutcome(outcome, err)
		w.ResponseWriterWrapper.WriteHeader(status)
	}
}

// prepare sets up the rewriter, or returns the reason the response passes
// through untouched.
func (w *injectingWriter) prepare(status int) (string, error) {
	if routevars.ServedByHelpCenter(w.ctx) {
		return outcomeHelpCenter, nil // Intercom's own page: never ours to touch
	}
	hdr := w.Header()
	if status != http.StatusOK || !isHTML(hdr.Get("Content-Type")) {
		return outcomeNotHTML, nil
	}
	switch enc := strings.ToLower(strings.TrimSpace(hdr.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		w.gunzip = newGunzipPipe()
	default:
		return outcomeEncoded, nil
	}

	w.body, w.tag = getBuffer(), getBuffer()
	body, err := w.appendScriptBody((*w.body)[:0])
	if err != nil {
		w.stopGunzip()
		return outcomeError, err
	}
	*w.body = body
	// An XHTML page is parsed as XML: the element must be well-formed, and
	// its text (what a CSP hash covers) is not the body alone.
	xhtml := injector.IsXHTML(hdr.Get("Content-Type"))
	w.plan = injector.PlanCSP(hdr.Values("Content-Security-Policy"), hdr.Values("Content-Security-Policy-Report-Only"), injector.ScriptText(body, xhtml))
	snippet := injector.AppendScriptElement((*w.tag)[:0], body, w.plan.Nonce, xhtml)
	*w.tag = snippet
	w.snippetLen = len(snippet)
	w.rewriter = injector.NewRewriter(w.ResponseWriterWrapper, snippet, injector.RewriterOptions{
		Decide:      w.decide,
		FindCharset: !namesCharset(hdr.Get("Content-Type")),
	})
	if w.gunzip != nil {
		w.gunzip.start(w.rewriter)
	}
	return "", nil
}

// appendScriptBody signs the tokens and appends our script to dst; for an
// anonymous visitor with a stale session it is only the shutdown.
func (w *injectingWriter) appendScriptBody(dst []byte) ([]byte, error) {
	h := w.h
	w.hygiene = h.marker.Decide(w.id.UserID, w.marker)
	if w.id.UserID == "" {
		return injector.AppendScriptBody(dst, injector.Settings{AppID: h.AppID, APIBase: h.apiBase}, injector.SnippetOptions{Shutdown: true}), nil
	}
	settings, expires, err := h.settings(w.id)
	if err != nil {
		return nil, err
	}
	opts := injector.SnippetOptions{Loader: h.Loader, Shutdown: w.hygiene.Shutdown}
	if h.Endpoint != "" {
		opts.Endpoint = h.Endpoint
		opts.RefreshIn = refreshIn(time.Now(), expires)
	}
	return injector.AppendScriptBody(dst, settings, opts), nil
}

func (w *injectingWriter) stopGunzip() {
	if w.gunzip != nil {
		w.gunzip.abort()
		w.gunzip = nil
	}
}

// decide is called by the rewriter once, before the first body byte is
// written: the last moment to change headers.
func (w *injectingWriter) decide(o injector.Outcome) {
	hdr := w.Header()
	if w.gunzip != nil {
		// We forward the decoded body; the old length described the gzip.
		hdr.Del("Content-Encoding")
		hdr.Del("Content-Length")
	}
	if o == injector.Injected {
		if cl := hdr.Get("Content-Length"); cl != "" {
			if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
				hdr.Set("Content-Length", strconv.FormatInt(n+int64(w.snippetLen), 10))
			} else {
				hdr.Del("Content-Length")
			}
		}
		hdr.Del("ETag")
		hdr.Del("Last-Modified")
		hdr.Del("Accept-Ranges")
		hdr.Set("Cache-Control", "private, no-store")
		if cs := w.rewriter.Charset(); cs != "" {
			// The snippet pushed the page's <meta charset> past byte 1024.
			hdr.Set("Content-Type", withCharset(hdr.Get("Content-Type"), cs))
		}
		if w.plan.Changed {
			setValues(hdr, "Content-Security-Policy", w.plan.Enforced)
			setValues(hdr, "Content-Security-Policy-Report-Only", w.plan.ReportOnly)
		}
		w.setSessionCookies(hdr)
	}
	w.h.logOutcome(outcomeOf(o), nil)
	w.ResponseWriterWrapper.WriteHeader(w.status)
}

// setSessionCookies carries out the session hygiene decision on an injected
// page: the script shuts the Messenger down, and these cookies make sure the
// old session is not picked up again.
func (w *injectingWriter) setSessionCookies(hdr http.Header) {
	hy := w.hygiene
	if hy.Shutdown {
		hdr.Add("Set-Cookie", expiredSessionCookie(w.h.AppID, w.host))
	}
	if hy.SetMarker == "" && !hy.ExpireMarker {
		return
	}
	marker := &http.Cookie{
		Name:     injector.MarkerCookie,
		Value:    hy.SetMarker,
		Path:     "/",
		MaxAge:   int(markerLifetime / time.Second),
		HttpOnly: true,
		Secure:   w.secure,
		SameSite: http.SameSiteLaxMode,
	}
	if hy.ExpireMarker {
		marker.MaxAge = -1
		marker.Expires = time.Unix(0, 0)
	}
	hdr.Add("Set-Cookie", marker.String())
}

// expiredSessionCookie deletes the Messenger's session cookie. A deletion
// only matches with the same Domain, so it names the registrable domain with
// a leading dot, as the Messenger does when it sets the cookie.
func expiredSessionCookie(appID, host string) string {
	c := "intercom-session-" + appID + "=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
	if domain := injector.SessionCookieDomain(host); domain != "" {
		c += "; Domain=" + domain
	}
	return c
}

// markerLifetime outlives Intercom's one-week session cookie, so a marker
// is there whenever a session is.
const markerLifetime = 30 * 24 * time.Hour

func setValues(hdr http.Header, name string, values []string) {
	if len(values) == 0 {
		return
	}
	hdr[http.CanonicalHeaderKey(name)] = values
}

// Write sends body bytes through the rewriter when there is one.
func (w *injectingWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.gunzip != nil:
		return w.gunzip.Write(p)
	case w.rewriter != nil:
		return w.rewriter.Write(p)
	default:
		return w.ResponseWriterWrapper.Write(p)
	}
}

// ReadFrom makes io.Copy (file_server, http.ServeContent) go through Write,
// which the promoted ReadFrom of the wrapper would bypass.
func (w *injectingWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.wroteHeader && w.rewriter == nil {
		return w.ResponseWriterWrapper.ReadFrom(r)
	}
	return io.Copy(writerOnly{w}, r)
}

type writerOnly struct{ io.Writer }

// FlushError holds flushes back while the status line is still ours to
// change, and on the (rare) gzip-decoding path; afterwards it flushes as
// usual.
func (w *injectingWriter) FlushError() error {
	if !w.wroteHeader || w.gunzip != nil || (w.rewriter != nil && w.rewriter.Outcome() == injector.Pending) {
		return nil
	}
	return http.NewResponseController(w.ResponseWriterWrapper).Flush()
}

// finish completes the body after the next handler returned. On an upstream
// error nothing we hold is written, so the error handler can still answer
// (no 200 replacing a 502, no half page).
func (w *injectingWriter) finish(err error) error {
	if err != nil {
		w.stopGunzip()
		return err
	}
	if w.rewriter == nil {
		return nil
	}
	if w.gunzip != nil {
		if gerr := w.gunzip.close(); gerr != nil {
			if w.rewriter.Outcome() == injector.Pending {
				// Nothing was sent yet: answer as the upstream's error.
				// Caddy writes the error status with the header map as it
				// is, so drop the upstream's headers about the body we
				// could not decode.
				hdr := w.Header()
				for _, name := range upstreamBodyHeaders {
					hdr.Del(name)
				}
				w.h.logOutcome(outcomeError, gerr)
				return caddyhttp.Error(http.StatusBadGateway, gerr)
			}
			// The page is partly sent: abort the connection rather than
			// end a truncated body as if it were complete.
			w.h.logger.Error("upstream gzip body is corrupt mid-stream; aborting response")
			panic(http.ErrAbortHandler)
		}
	}
	return w.rewriter.Close()
}

// upstreamBodyHeaders describe an upstream body; they are removed when that
// body is replaced by an error response. A stale Content-Length would
// truncate the error response, Content-Encoding would mislabel it, and the
// upstream's caching headers could get a 502 stored by a shared cache.
var upstreamBodyHeaders = []string{
	"Content-Length", "Content-Encoding", "Content-Type", "Content-Range", "Accept-Ranges",
	"ETag", "Last-Modified", "Cache-Control", "Expires",
}

// release frees what the request held; deferred so that it also runs when
// reverse_proxy aborts with http.ErrAbortHandler.
func (w *injectingWriter) release() {
	w.stopGunzip()
	putBuffer(w.body)
	putBuffer(w.tag)
	w.body, w.tag = nil, nil
}

// snippetBuffers recycles the per-request script buffers (~8 KiB each).
var snippetBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 12<<10); return &b }}

func getBuffer() *[]byte { return snippetBuffers.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	// Keep the pool from holding on to the odd huge buffer.
	if b != nil && cap(*b) <= 64<<10 {
		snippetBuffers.Put(b)
	}
}

// isHTML reports whether a response's Content-Type is an HTML page, as
// mime.ParseMediaType would tell. It runs for every identified GET, assets
// included, so the common cases skip ParseMediaType, which allocates a map
// per call: a media type other than HTML, and HTML with no parameter or
// only charset=utf-8.
func isHTML(contentType string) bool {
	base, params, _ := strings.Cut(contentType, ";")
	base = strings.TrimSpace(base)
	if !equalFoldASCII(base, "text/html") && !equalFoldASCII(base, "application/xhtml+xml") {
		return false
	}
	if params = strings.TrimSpace(params); params == "" || equalFoldASCII(params, "charset=utf-8") {
		return true
	}
	_, _, err := mime.ParseMediaType(contentType)
	return err == nil
}

// equalFoldASCII compares ASCII-case-insensitively; unlike strings.EqualFold
// it does not fold non-ASCII letters (such as U+017F into s), as
// ParseMediaType does not.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

func outcomeOf(o injector.Outcome) string {
	switch o {
	case injector.Injected:
		return outcomeInjected
	case injector.Fragment:
		return outcomeFragment
	default:
		return outcomeNoInjectionPoint
	}
}
