package injector

import (
	"errors"
	"io"
	"strconv"
	"sync"
)

// Outcome is what the Rewriter decided to do with a response body. The Caddy
// module needs it before the first byte goes out, because the headers depend
// on it (Content-Length, CSP, caching), and afterwards for logs and metrics.
type Outcome uint8

const (
	// Pending means the Rewriter has not seen enough of the body to decide.
	Pending Outcome = iota
	// Injected means the snippet was inserted exactly once, at a token
	// boundary before the page's first script and before the body starts.
	Injected
	// Fragment means the body is not a full document (an htmx partial, a
	// table row, plain text): it passes through untouched, because a script
	// spliced into a fragment would land wherever the fragment is swapped in.
	Fragment
	// NoInjectionPoint means no injection point appeared within the scan
	// window or before the body ended: the body passes through untouched.
	NoInjectionPoint
)

// String returns the outcome in the snake_case form used in logs and as the
// outcome label of caddy_intercom_responses_total: "injected", "fragment",
// "no_injection_point" for the outcomes Decide reports ("pending" never
// reaches Decide). It is the one home of these names; the handler uses it
// rather than a mapping of its own.
func (o Outcome) String() string {
	switch o {
	case Pending:
		return "pending"
	case Injected:
		return "injected"
	case Fragment:
		return "fragment"
	case NoInjectionPoint:
		return "no_injection_point"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// DefaultScanWindow is how many bytes of a body the Rewriter holds and scans
// for an injection point before it gives up and passes the page through. It
// bounds the memory per response and the delay before the first byte is sent;
// real heads are a few KiB, and 256 KiB leaves room for inlined CSS and JSON.
const DefaultScanWindow = 256 << 10

// RewriterOptions configures a Rewriter.
type RewriterOptions struct {
	// ScanWindow is the most bytes held while looking for the injection
	// point; 0 (or negative) means DefaultScanWindow. The token that decides
	// must lie entirely within the first ScanWindow bytes.
	ScanWindow int
	// Decide is called exactly once, before the first byte reaches dst, with
	// the final outcome. The Caddy module fixes response headers here
	// (Content-Length, CSP, cache headers) and writes the status line. It
	// runs inside Write or Close and must not call back into the Rewriter.
	// Nil means no callback.
	Decide func(Outcome)
	// FindCharset makes the Rewriter look past the injection point, up to
	// byte 1024, for a <meta> charset declaration that the snippet would push
	// out of the window in which browsers obey it (see Charset). Set it when
	// the response's Content-Type names no charset; it may hold the response
	// back until 1024 bytes have arrived.
	FindCharset bool
}

// Rewriter is a streaming io.Writer that copies an HTML body to dst and
// splices a snippet in just before the page's first script and before the
// body starts, so the snippet runs first and the page sees its effects.
//
// While the outcome is Pending it holds the bytes written so far (never more
// than the scan window) and feeds each new byte, once, to the head scanner
// (headscan.go), which decides where the snippet goes; the bytes written to
// dst are therefore always the input, or the input with the snippet inserted
// once at a token boundary. Once the outcome is known it calls Decide, writes
// the held bytes, and from then on every Write goes straight to dst: no
// scanning, no copying, no allocation.
//
// The injection point is right before the earliest of:
//   - a <script> start tag;
//   - a <meta http-equiv="Content-Security-Policy">, because such a policy
//     governs only the elements after it;
//   - the </head> end tag (and the </body>, </html>, </br> end tags, which
//     close the head in a real parser too);
//   - the <body> start tag, or any start tag that is not allowed in the head
//     (anything but html, head, base, basefont, bgsound, link, meta,
//     noframes, noscript, script, style, template, title);
//   - non-whitespace character data outside raw text, which also ends the
//     head in a real parser.
//
// Never inside a comment, a doctype, a tag or its attribute values, or the raw
// text of script, style, title, textarea, noscript and the like. The contents
// of <template> elements are inert (a script there never runs), so nothing
// inside a template is an injection point; the scanner follows foreign
// content (<svg>, <math>) there to know where the template ends. A leading
// byte order mark is kept in front.
//
// A body whose first content (first element start tag or non-whitespace text;
// comments, whitespace and a BOM don't count) is not preceded by a doctype,
// <html>, <head> or <body> is a Fragment and passes through untouched.
//
// A Rewriter serves one response and is not safe for concurrent use. It keeps
// no per-request state anywhere shared: the hold buffer comes from a
// sync.Pool and goes back to it as soon as the outcome is decided and the held
// bytes are flushed, so there is nothing to release. A Rewriter abandoned
// while Pending (a panicking handler) simply leaves its buffer to the garbage
// collector.
type Rewriter struct {
	dst         io.Writer
	snippet     []byte
	window      int
	decide      func(Outcome)
	findCharset bool

	outcome Outcome
	closed  bool
	err     error // sticky error from dst

	// hold is the pooled buffer of the bytes held while Pending, starting at
	// offset 0 of the body. It stays nil when the first Write decides.
	hold *[]byte

	// scan is the head scanner. It carries its state from one Write to
	// the next and looks at every byte once, so the work is linear in the
	// bytes before the decision whatever the write pattern.
	scan    headScanner
	scanned int // bytes fed to the scanner, for tests
}

// NewRewriter returns a Rewriter that writes to dst, inserting snippet at the
// injection point. The snippet is used as is and must not change while the
// Rewriter is in use. Close must be called at the end of the body: it decides
// if the outcome is still pending and flushes what is held. Close does not
// close dst.
func NewRewriter(dst io.Writer, snippet []byte, opts RewriterOptions) *Rewriter {
	r := new(Rewriter)
	r.Reset(dst, snippet, opts)
	return r
}

// Reset makes r what NewRewriter(dst, snippet, opts) returns, in r's own
// memory. A Rewriter is ~800 bytes, most of it the head scanner's fixed
// buffers: a caller that already recycles its per-response state (the
// Caddy handler pools its response writers) keeps one by value and saves
// that allocation on every page. Whatever r held from an earlier response
// is dropped, not written anywhere.
func (r *Rewriter) Reset(dst io.Writer, snippet []byte, opts RewriterOptions) {
	w := opts.ScanWindow
	if w <= 0 {
		w = DefaultScanWindow
	}
	*r = Rewriter{dst: dst, snippet: snippet, window: w, decide: opts.Decide, findCharset: opts.FindCharset}
}

// Outcome reports the outcome so far: Pending until it is decided.
func (r *Rewriter) Outcome() Outcome { return r.outcome }

// Charset returns the charset that a <meta charset> (or <meta
// http-equiv="Content-Type">) of the page declares when the injection pushes
// that element past byte 1024, where browsers stop looking for it, and ""
// otherwise. Read it in Decide: the handler then names the charset in the
// Content-Type header, so that the page is decoded as it declares. Only
// found with RewriterOptions.FindCharset, or when the declaration is complete
// by the time the injection point is found.
func (r *Rewriter) Charset() string {
	if r.outcome != Injected {
		return ""
	}
	return r.scan.movedCharset(len(r.snippet))
}

var (
	errClosed = errors.New("injector: write to closed Rewriter")
	bom       = []byte("\xef\xbb\xbf")
)

// Write implements io.Writer. While Pending it holds p (up to the scan
// window) and looks for the injection point; once decided it writes straight
// through to dst.
func (r *Rewriter) Write(p []byte) (int, error) {
	if r.outcome != Pending && r.err == nil && !r.closed {
		n, err := r.dst.Write(p)
		if err != nil {
			r.err = err
		}
		return n, err
	}
	if r.err != nil {
		return 0, r.err
	}
	if r.closed {
		return 0, errClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	base := 0
	if r.hold != nil {
		base = len(*r.hold)
	}
	// Scan no further than the window; while Pending, base < window.
	in := p[:min(len(p), r.window-base)]
	r.scanned += r.scan.feed(in, r.findCharset)
	full := base+len(in) >= r.window
	outcome := r.scan.outcome
	if !r.scan.decided() {
		if !full {
			r.appendHold(in) // p must not be retained: copy it
			return len(p), nil
		}
		if outcome == Pending {
			outcome = NoInjectionPoint
		}
	}
	data := in // decided in the first Write: the caller's bytes in place
	if base > 0 {
		data = r.appendHold(in)
	}
	return r.finish(outcome, r.scan.at, data, p[len(in):], base)
}

// Close ends the body. If the outcome is still pending it settles the scan
// (a "<" cut off by the end of the body is text), decides, calls Decide and
// flushes. It is safe to call twice.
func (r *Rewriter) Close() error {
	if r.closed {
		return r.err
	}
	r.closed = true
	if r.outcome != Pending || r.err != nil {
		r.release()
		return r.err
	}
	var held []byte
	if r.hold != nil {
		held = *r.hold
	}
	r.scan.finish()
	outcome := r.scan.outcome
	if outcome == Pending {
		outcome = NoInjectionPoint
	}
	_, err := r.finish(outcome, r.scan.at, held, nil, len(held))
	return err
}

// finish records the outcome, calls Decide and writes data (with the snippet
// at offset at when Injected) followed by rest. base is how many bytes of
// data were held before the current Write; the result counts the current
// Write's bytes that reached dst.
func (r *Rewriter) finish(o Outcome, at int, data, rest []byte, base int) (int, error) {
	r.outcome = o
	if r.decide != nil {
		r.decide(o)
	}
	segs := [4][]byte{data, nil, nil, rest}
	var joined *[]byte // pooled: data with the snippet spliced in
	if o == Injected {
		if len(data)+len(r.snippet) <= maxJoin {
			joined = holdPool.Get().(*[]byte)
			b := append((*joined)[:0], data[:at]...)
			b = append(b, r.snippet...)
			b = append(b, data[at:]...)
			*joined = b
			segs[0] = b
		} else {
			segs[0], segs[1], segs[2] = data[:at], r.snippet, data[at:]
		}
	}
	defer putJoined(joined)
	written := 0 // body bytes (not snippet bytes) that reached dst
	for i, s := range segs {
		if len(s) == 0 {
			continue
		}
		n, err := r.dst.Write(s)
		switch {
		case i == 1: // the snippet alone
		case i == 0 && joined != nil: // all but the snippet's bytes
			written += n - min(max(n-at, 0), len(r.snippet))
		default:
			written += n
		}
		if err == nil && n < len(s) {
			err = io.ErrShortWrite
		}
		if err != nil {
			r.err = err
			r.release()
			return max(written-base, 0), err
		}
	}
	r.release()
	return written - base, nil
}

// maxJoin is the most bytes finish copies to write the start of an injected
// page in one Write. Handing the page's start, the snippet and the rest of the
// buffer to dst as three writes costs more than the copy: net/http's buffered
// response writer then ends up issuing an extra write syscall per page (and
// holding a tail until the handler returns), which was most of the handler's
// cost on small pages. Beyond this size the writes are big anyway.
const maxJoin = 64 << 10

func putJoined(b *[]byte) {
	if b != nil && cap(*b) <= maxPooledHold {
		*b = (*b)[:0]
		holdPool.Put(b)
	}
}

// holdPool recycles hold buffers. Buffers are emptied before they go back and
// belong to one Rewriter at a time, so no response's bytes can reach another.
var holdPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

// maxPooledHold keeps one huge configured window from pinning big buffers in
// the pool.
const maxPooledHold = DefaultScanWindow

// appendHold appends b to the hold buffer, growing it to at most the window,
// and returns the held bytes.
func (r *Rewriter) appendHold(b []byte) []byte {
	if r.hold == nil {
		r.hold = holdPool.Get().(*[]byte)
	}
	h := *r.hold
	if need := len(h) + len(b); need > cap(h) {
		n := make([]byte, len(h), min(max(2*cap(h), need), max(r.window, need)))
		copy(n, h)
		h = n
	}
	h = append(h, b...)
	*r.hold = h
	return h
}

// release returns the hold buffer and the scanner's stack to their pools.
func (r *Rewriter) release() {
	r.scan.release()
	if r.hold == nil {
		return
	}
	h := r.hold
	r.hold = nil
	if cap(*h) <= maxPooledHold {
		*h = (*h)[:0]
		holdPool.Put(h)
	}
}
