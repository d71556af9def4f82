package caddymodule

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/internal/routevars"
)

// injectingWriter is the per-request response writer of the intercom handler.
// It decides at WriteHeader whether the response is a page to inject into,
// holds the status line until the rewriter has found the injection point (so
// that Content-Length, CSP and cache headers can still be changed), then
// streams the rest untouched. What the page's headers become is the page
// policy's (injector.Page); the writer only sequences it.
//
// It knows nothing of the handler beyond two functions: script, which signs
// and builds the page's script, and outcome, which records what became of
// the response.
type injectingWriter struct {
	caddyhttp.ResponseWriterWrapper
	script  pageScript
	outcome outcomeFunc
	id      injector.Identity
	marker  string          // the request's session marker cookie
	head    bool            // a HEAD: the page policy without a body
	page    injector.Page   // the header policy, completed in prepare
	ctx     context.Context // the request's, for the variables of later handlers

	wroteHeader bool
	status      int
	rewriter    *injector.Rewriter // nil: pass-through; else &rw
	rw          injector.Rewriter  // the rewriter's memory, pooled with the writer
	body, tag   *[]byte            // pooled: our script's body and <script> tag

	// decideFn is w.decide, bound once per pooled writer rather than once
	// per request (a method value allocates).
	decideFn func(injector.Outcome)
}

// writers recycles injectingWriters: one per identified GET or HEAD,
// assets included.
var writers = sync.Pool{New: func() any {
	w := new(injectingWriter)
	w.decideFn = w.decide
	return w
}}

func newInjectingWriter(w http.ResponseWriter, r *http.Request, h *Intercom, id injector.Identity, marker string) *injectingWriter {
	iw := writers.Get().(*injectingWriter)
	*iw = injectingWriter{
		decideFn:              iw.decideFn,
		ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w},
		script:                h.script,
		outcome:               h.outcome,
		id:                    id,
		marker:                marker,
		head:                  r.Method == http.MethodHead,
		ctx:                   r.Context(),
		page:                  injector.Page{AppID: h.AppID, Host: r.Host, Secure: r.TLS != nil},
	}
	return iw
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

	if o, err, done := w.prepare(status); done {
		w.outcome(o, err)
		w.ResponseWriterWrapper.WriteHeader(status)
	}
}

// prepare sets up the rewriter (done false), or says why the response
// passes through with its status line written now (done true): Intercom's
// own Help Center page, not a page, encoded, a HEAD (the page policy
// applied) or a signing error.
func (w *injectingWriter) prepare(status int) (o outcome, err error, done bool) {
	if routevars.ServedByHelpCenter(w.ctx) {
		return outcomeHelpCenter, nil, true // Intercom's own page: never ours to touch
	}
	hdr := w.Header()
	if status != http.StatusOK || !injector.IsHTML(firstValue(hdr, "Content-Type")) {
		return outcomeNotHTML, nil, true
	}
	// Any content coding passes through untouched: Caddy's default
	// transport asks for gzip itself and decodes it, so an encoded body
	// here is one the upstream insisted on, and serving it as is is what
	// plain reverse_proxy does.
	if enc := strings.TrimSpace(firstValue(hdr, "Content-Encoding")); enc != "" && !injector.EqualFoldASCII(enc, "identity") {
		return outcomeEncoded, nil, true
	}
	if w.head {
		_, w.page.Hygiene, _ = w.script(nil, w.id, w.marker, true)
		w.page.Added = -1
		w.page.Apply(hdr)
		return outcomeHead, nil, true
	}

	w.body, w.tag = getBuffer(), getBuffer()
	body, hy, err := w.script((*w.body)[:0], w.id, w.marker, false)
	if err != nil {
		return outcomeError, err, true
	}
	*w.body = body
	w.page.Hygiene = hy
	// An XHTML page is parsed as XML: the element must be well-formed, and
	// its text (what a CSP hash covers) is not the body alone.
	contentType := firstValue(hdr, "Content-Type")
	xhtml := injector.IsXHTML(contentType)
	w.page.CSP = injector.PlanCSP(hdr["Content-Security-Policy"], hdr["Content-Security-Policy-Report-Only"], injector.ScriptText(body, xhtml))
	snippet := injector.AppendScriptElement((*w.tag)[:0], body, w.page.CSP.Nonce, xhtml)
	*w.tag = snippet
	w.page.Added = len(snippet)
	w.rw.Reset(&w.ResponseWriterWrapper, snippet, injector.RewriterOptions{
		Decide:      w.decideFn,
		FindCharset: !namesCharset(contentType),
	})
	w.rewriter = &w.rw
	return 0, nil, false
}

// firstValue is hdr.Get for a canonical name, without canonicalising.
func firstValue(hdr http.Header, name string) string {
	if v := hdr[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// decide is called by the rewriter once, before the first body byte is
// written: the last moment to change headers.
func (w *injectingWriter) decide(o injector.Outcome) {
	if o == injector.Injected {
		hdr := w.Header()
		if cs := w.rewriter.Charset(); cs != "" {
			// The snippet pushed the page's <meta charset> past byte 1024.
			hdr["Content-Type"] = []string{withCharset(firstValue(hdr, "Content-Type"), cs)}
		}
		w.page.Apply(hdr)
	}
	w.outcome(rewritten(o), nil)
	w.ResponseWriterWrapper.WriteHeader(w.status)
}

// Write sends body bytes through the rewriter when there is one.
func (w *injectingWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.rewriter != nil {
		return w.rewriter.Write(p)
	}
	return w.ResponseWriterWrapper.Write(p)
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
// change; afterwards it flushes as usual.
func (w *injectingWriter) FlushError() error {
	if !w.wroteHeader || (w.rewriter != nil && w.rewriter.Outcome() == injector.Pending) {
		return nil
	}
	return http.NewResponseController(&w.ResponseWriterWrapper).Flush()
}

// finish completes the body after the next handler returned. On an upstream
// error nothing we hold is written, so the error handler can still answer
// (no 200 replacing a 502, no half page).
func (w *injectingWriter) finish(err error) error {
	if err != nil || w.rewriter == nil {
		return err
	}
	return w.rewriter.Close()
}

// release frees what the request held; deferred so that it also runs when
// reverse_proxy aborts with http.ErrAbortHandler.
func (w *injectingWriter) release() {
	putBuffer(w.body)
	putBuffer(w.tag)
	*w = injectingWriter{decideFn: w.decideFn}
	writers.Put(w)
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
