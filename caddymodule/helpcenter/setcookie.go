package helpcenter

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// allowedSetCookie reports whether a Set-Cookie line from the origin may
// reach the browser, and the cookie's name as a browser parses it.
//
// The Help Center shares the app's registrable domain, so a cookie with a
// Domain attribute would reach (and could overwrite) the app's own cookies
// on every host of that domain. Only two kinds pass: host-only cookies (no
// Domain attribute: they stay on the Help Center host) and the Messenger's
// intercom-* cookies, which Intercom legitimately sets for the whole domain.
//
// Parsing follows RFC 6265bis as browsers do: the name is what precedes the
// first '=' of the part before the first ';' (no '=' means an empty name),
// trimmed of spaces and tabs; attribute names are case-insensitive. Any
// Domain attribute counts, even an empty one, which browsers would ignore:
// refusing it costs nothing and needs no guess about the browser.
func allowedSetCookie(line string) (name string, ok bool) {
	pair, attrs, _ := strings.Cut(line, ";")
	if n, _, found := strings.Cut(pair, "="); found {
		name = strings.Trim(n, " \t")
	}
	if strings.HasPrefix(name, intercomCookiePrefix) {
		return name, true
	}
	for attrs != "" {
		var attr string
		attr, attrs, _ = strings.Cut(attrs, ";")
		attrName, _, _ := strings.Cut(attr, "=")
		if strings.EqualFold(strings.Trim(attrName, " \t"), "domain") {
			return name, false
		}
	}
	return name, true
}

// maxReportedCookieNames bounds the memory of the once-per-name warning;
// maxLoggedNameLen bounds what one warning repeats of a name.
const (
	maxReportedCookieNames = 256
	maxLoggedNameLen       = 64
)

// droppedCookies filters the origin's Set-Cookie lines and warns once per
// cookie name (per config load) about each one it drops. It is shared by
// all requests of a handler; the only state is the set of names reported.
type droppedCookies struct {
	logger *zap.Logger

	seen  sync.Map     // name -> struct{}
	count atomic.Int64 // entries in seen
}

// filter removes from hdr the Set-Cookie lines that may not reach the
// browser, editing the header map in place.
func (d *droppedCookies) filter(hdr http.Header) {
	d.filterKey(hdr, "Set-Cookie")
	// Trailers declared after the header was written (reverse_proxy copies
	// undeclared upstream trailers under this prefix). Browsers ignore
	// cookies in trailers; they are filtered anyway.
	d.filterKey(hdr, http.TrailerPrefix+"Set-Cookie")
}

func (d *droppedCookies) filterKey(hdr http.Header, key string) {
	lines, ok := hdr[key]
	if !ok {
		return
	}
	kept := lines[:0:0]
	dropped := false
	for i, line := range lines {
		name, ok := allowedSetCookie(line)
		if ok {
			if dropped {
				kept = append(kept, line)
			}
			continue
		}
		if !dropped {
			dropped = true
			kept = append(kept, lines[:i]...)
		}
		d.report(name)
	}
	if !dropped {
		return
	}
	if len(kept) == 0 {
		delete(hdr, key)
		return
	}
	hdr[key] = kept
}

// report warns about a dropped cookie the first time its name is seen. The
// value never appears in the log: it may be a session of the app's.
func (d *droppedCookies) report(name string) {
	if len(name) > maxLoggedNameLen {
		name = name[:maxLoggedNameLen]
	}
	if _, ok := d.seen.Load(name); ok {
		return
	}
	if d.count.Add(1) > maxReportedCookieNames {
		d.count.Add(-1)
		return // dropped all the same, just not reported again
	}
	if _, loaded := d.seen.LoadOrStore(name, struct{}{}); loaded {
		d.count.Add(-1)
		return
	}
	d.logger.Warn("Help Center origin set a cookie for the whole domain; dropped so that it cannot reach or replace the app's cookies (only host-only and intercom-* cookies pass; reported once per name)",
		zap.String("cookie_name", name))
}

// cookieFilterWriter applies droppedCookies to every header the origin's
// response writes (1xx informational ones included) before it leaves.
// Bodies are not touched: writes go straight through, so streaming, flushing
// and protocol upgrades work as with plain reverse_proxy.
type cookieFilterWriter struct {
	*caddyhttp.ResponseWriterWrapper
	cookies     *droppedCookies
	wroteHeader bool
}

// WriteHeader filters the header, then writes it.
func (w *cookieFilterWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	w.cookies.filter(w.Header())
	if status < 100 || status > 199 || status == http.StatusSwitchingProtocols {
		w.wroteHeader = true
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

// Write makes sure that the implicit 200 header is filtered too.
func (w *cookieFilterWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.Write(p)
}

// ReadFrom overrides the wrapper's promoted ReadFrom, which would write the
// body (and so an unfiltered header) behind our back.
func (w *cookieFilterWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError flushes through to the client; an early flush sends the header,
// so it is filtered first. http.ResponseController finds this method.
func (w *cookieFilterWriter) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriterWrapper.ResponseWriter).Flush()
}

// finish filters what the handler left in the header map after the header
// was written: reverse_proxy's trailers.
func (w *cookieFilterWriter) finish() {
	if w.wroteHeader {
		w.cookies.filter(w.Header())
	}
}

// Interface guards.
var (
	_ http.ResponseWriter = (*cookieFilterWriter)(nil)
	_ io.ReaderFrom       = (*cookieFilterWriter)(nil)
)
