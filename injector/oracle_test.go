package injector

// This file keeps the Rewriter as it was before the purpose-built head
// scanner (headscan.go): the same I/O around golang.org/x/net/html's
// tokenizer, resuming its scan at token boundaries. It is the oracle of the
// differential fuzz target (FuzzScannerDifferential) and the "before" of the
// benchmarks. Its only change is the <meta> policy rule (issue 13 item 11),
// so that it keeps deciding what the new scanner decides. Where they
// legitimately differ (foreign content inside <template>, which this one
// does not model) the new scanner is checked against html.Parse instead.

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"golang.org/x/net/html"
)

// tokRewriter is a streaming io.Writer that copies an HTML body to dst and
// splices a snippet in just before the page's first script and before the
// body starts, so the snippet runs first and the page sees its effects.
//
// While the outcome is Pending it holds the bytes written so far (never more
// than the scan window) and tokenizes them with golang.org/x/net/html, using
// only Tokenizer.Raw, whose tokens partition the input exactly; the bytes
// written to dst are therefore always the input, or the input with the
// snippet inserted once at a token boundary. Once the outcome is known it
// calls Decide, writes the held bytes, and from then on every Write goes
// straight to dst: no tokenizing, no copying, no allocation.
//
// The injection point is right before the earliest of:
//   - a <script> start tag;
//   - the </head> end tag (and the </body>, </html>, </br> end tags, which
//     close the head in a real parser too);
//   - the <body> start tag, or any start tag that is not allowed in the head
//     (anything but html, head, base, basefont, bgsound, link, meta,
//     noframes, noscript, script, style, template, title);
//   - non-whitespace character data outside raw text, which also ends the
//     head in a real parser.
//
// Never inside a comment, a doctype, a tag or its attribute values, or the raw
// text of script, style, title, textarea, noscript and the like: the
// tokenizer's tokens cover those whole. The contents of <template> elements
// are inert (a script there never runs), so nothing inside a template is an
// injection point. A leading byte order mark is kept in front.
//
// A body whose first content (first element start tag or non-whitespace text;
// comments, whitespace and a BOM don't count) is not preceded by a doctype,
// <html>, <head> or <body> is a Fragment and passes through untouched.
//
// A tokRewriter serves one response and is not safe for concurrent use. It keeps
// no per-request state anywhere shared: the hold buffer comes from a
// sync.Pool and goes back to it as soon as the outcome is decided and the held
// bytes are flushed, so there is nothing to release. A tokRewriter abandoned
// while Pending (a panicking handler) simply leaves its buffer to the garbage
// collector.
type tokRewriter struct {
	dst     io.Writer
	snippet []byte
	window  int
	decide  func(Outcome)

	outcome Outcome
	closed  bool
	err     error // sticky error from dst

	// hold is the pooled buffer of the bytes held while Pending, starting at
	// offset 0 of the body. It stays nil when the first Write decides.
	hold *[]byte

	// Resumable scan state. Offsets are from the start of the body.
	//
	// Rather than re-tokenizing everything held on each Write (quadratic
	// for small writes), a scan resumes from ckpt, the end of the last
	// complete token after which the tokenizer is in its data state, with
	// st, the decision state at that point. A fresh Tokenizer started there
	// behaves exactly like one that tokenized from the start, because,
	// errors aside, the only state the Tokenizer carries between tokens is
	// the raw-text element whose text comes next (we never AllowCDATA). So ckpt never moves past the start tag
	// of a raw-text element (<style>, <title>, ...) until its text is
	// complete: resuming re-reads the start tag and the Tokenizer re-enters
	// raw text by itself.
	//
	// The held bytes are read through tokHoldReader, which reports
	// errNeedMore (not io.EOF) at its end; a token during which the reader
	// ran dry is incomplete and is looked at again by the next scan. Only
	// Close scans with io.EOF at the end.
	//
	// A single long token (a big inline style, a license comment) would
	// still be re-read from its start on every small Write. To avoid that,
	// a scan records what kind of token it stopped in (tail), and Write
	// only scans again when the new bytes contain something that can end
	// that kind of token or decide the outcome: a '>' after "--" for a
	// comment, "</style" and a delimiter for style text, any '>' for a tag,
	// and so on (mayProgress). The first 4 bytes of a token are always
	// rescanned (see shortTail), so Write costs O(len(p)) plus one scan per
	// token that completes. mayProgress never skips a scan that would find
	// something (the tests compare every prefix with a from-scratch scan);
	// and a wrong skip could only delay a decision, never change it,
	// because decisions rest on complete tokens, which more bytes do not
	// change.
	ckpt      int
	st        tokScanState
	bomDone   bool     // the leading byte order mark, if any, has been stepped over
	checked   int      // bytes of the body the last scan, or mayProgress, has looked at
	tail      tailKind // kind of the incomplete token the last scan stopped in
	tailStart int      // where that token starts
	tailTag   string   // for tailRaw: the raw-text element, lower case
	rd        tokHoldReader
	scans     int // number of scans, for tests
}

// newTokRewriter returns a tokRewriter that writes to dst, inserting snippet at the
// injection point. The snippet is used as is and must not change while the
// tokRewriter is in use. Close must be called at the end of the body: it decides
// if the outcome is still pending and flushes what is held. Close does not
// close dst.
func newTokRewriter(dst io.Writer, snippet []byte, opts RewriterOptions) *tokRewriter {
	w := opts.ScanWindow
	if w <= 0 {
		w = DefaultScanWindow
	}
	return &tokRewriter{dst: dst, snippet: snippet, window: w, decide: opts.Decide}
}

// Outcome reports the outcome so far: Pending until it is decided.
func (r *tokRewriter) Outcome() Outcome { return r.outcome }

var errNeedMore = errors.New("injector: need more data")

// Write implements io.Writer. While Pending it holds p (up to the scan
// window) and looks for the injection point; once decided it writes straight
// through to dst.
func (r *tokRewriter) Write(p []byte) (int, error) {
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
	var held []byte
	if r.hold != nil {
		held = *r.hold
	}
	base := len(held)
	// Scan no further than the window; while Pending, len(held) < window.
	in := p[:min(len(p), r.window-base)]
	data := in // first Write: scan the caller's bytes in place
	if base > 0 {
		data = r.appendHold(in)
	}
	full := len(data) >= r.window
	outcome, at := Pending, 0
	if full || r.mayProgress(data) {
		outcome, at = r.scan(data, false)
	}
	if outcome == Pending {
		if !full {
			if base == 0 {
				r.appendHold(in) // p must not be retained: copy it
			}
			return len(p), nil
		}
		outcome = NoInjectionPoint
	}
	return r.finish(outcome, at, data, p[len(in):], base)
}

// Close ends the body. If the outcome is still pending it tokenizes the held
// bytes as a complete document (so a token cut off by the end of the body is
// settled), decides, calls Decide and flushes. It is safe to call twice.
func (r *tokRewriter) Close() error {
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
	outcome, at := r.scan(held, true)
	if outcome == Pending {
		outcome = NoInjectionPoint
	}
	_, err := r.finish(outcome, at, held, nil, len(held))
	return err
}

// finish records the outcome, calls Decide and writes data (with the snippet
// at offset at when Injected) followed by rest. base is how many bytes of
// data were held before the current Write; the result counts the current
// Write's bytes that reached dst.
func (r *tokRewriter) finish(o Outcome, at int, data, rest []byte, base int) (int, error) {
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

// appendHold appends b to the hold buffer, growing it to at most the window,
// and returns the held bytes.
func (r *tokRewriter) appendHold(b []byte) []byte {
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

// release returns the hold buffer to the pool.
func (r *tokRewriter) release() {
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

// tokHoldReader feeds held bytes to the Tokenizer. At the end it reports
// errNeedMore rather than io.EOF (unless final), and records that it did, so
// the scan can tell a complete token from one cut off by the end of what has
// arrived so far.
type tokHoldReader struct {
	b      []byte
	final  bool
	hitEnd bool
}

func (h *tokHoldReader) Read(p []byte) (int, error) {
	if len(h.b) == 0 {
		if h.final {
			return 0, io.EOF
		}
		h.hitEnd = true
		return 0, errNeedMore
	}
	n := copy(p, h.b)
	h.b = h.b[n:]
	return n, nil
}

// scan tokenizes data (the first len(data) bytes of the body) from the
// checkpoint, advancing the checkpoint over complete tokens, and returns the
// outcome it can decide (Pending if none) and, for Injected, the offset of
// the injection point. final means the body ends with data.
func (r *tokRewriter) scan(data []byte, final bool) (Outcome, int) {
	r.scans++
	r.checked = len(data)
	r.tail = tailAny
	if !r.bomDone {
		switch {
		case bytes.HasPrefix(data, bom):
			r.ckpt = len(bom)
		case !final && bytes.HasPrefix(bom, data):
			return Pending, 0 // could still become a BOM
		}
		r.bomDone = true
	}
	r.rd = tokHoldReader{b: data[r.ckpt:], final: final}
	defer func() { r.rd.b = nil }() // don't retain the caller's slice
	z := html.NewTokenizer(&r.rd)
	// The reader never offers more than this, so no token can be larger;
	// set it anyway so the bound does not rest on the reader alone.
	z.SetMaxBuf(len(data) - r.ckpt + 1)
	st, pos := r.st, r.ckpt
	for {
		tt := z.Next()
		if tt == html.ErrorToken { // end of the data (or, defensively, any error)
			r.setTail(data, pos, st, tt)
			return Pending, 0
		}
		raw := z.Raw()
		if r.rd.hitEnd {
			// Cut off by the end of the data. Only one thing about an
			// incomplete token is certain enough to act on: data-state
			// text that already holds a non-whitespace byte (besides a
			// trailing "<" or "</", which may still open a tag).
			if tt == html.TextToken && st.rawTag == "" && st.template == 0 &&
				hasNonSpace(trimOpener(raw)) {
				return st.content(), pos + firstNonSpace(raw)
			}
			r.setTail(data, pos, st, tt)
			return Pending, 0
		}
		if o := st.step(tt, raw); o != Pending {
			if tt == html.TextToken {
				// At the first byte that is not whitespace, as the new
				// scanner does (a parser drops whitespace before <head>
				// that it would keep after our script).
				return o, pos + firstNonSpace(raw)
			}
			return o, pos
		}
		pos += len(raw)
		if st.rawTag == "" {
			r.ckpt, r.st = pos, st
		}
	}
}

// tokScanState is what the scan knows at a token boundary.
type tokScanState struct {
	docSeen  bool   // a doctype, <html>, <head> or <body> came before any content
	template int    // open <template> elements: their content is inert
	rawTag   string // the raw-text element whose text comes next ("" = data state)
}

// content is the outcome of the first content outside the head.
func (st *tokScanState) content() Outcome {
	if st.docSeen {
		return Injected
	}
	return Fragment
}

// step updates the state with a complete token and returns the outcome it
// decides, if any; the injection point is the start of that token.
func (st *tokScanState) step(tt html.TokenType, raw []byte) Outcome {
	rawText := st.rawTag != ""
	st.rawTag = ""
	switch tt {
	case html.DoctypeToken:
		st.docSeen = true
	case html.TextToken:
		if !rawText && st.template == 0 && hasNonSpace(raw) {
			return st.content()
		}
	case html.StartTagToken, html.SelfClosingTagToken:
		// The tokenizer treats <title/> like <title> (the self-closing
		// flag means nothing on non-void elements), and so does a parser.
		kind, rawTag := tokClassify(tokTagName(raw[1:]))
		st.rawTag = rawTag
		if st.template > 0 {
			if kind == tokTagTemplate {
				st.template++
			}
			return Pending
		}
		switch kind {
		case tokTagHTML, tokTagHead:
			st.docSeen = true
			return Pending
		case tokTagBody:
			st.docSeen = true
			return Injected
		}
		if !st.docSeen {
			return Fragment
		}
		switch kind {
		case tokTagTemplate:
			st.template++
			return Pending
		case tokTagHeadOnly:
			if metaIsCSP(raw) {
				return Injected // before a <meta> policy, which governs only what follows
			}
			return Pending
		}
		return Injected // <script>, or an element that starts the body
	case html.EndTagToken:
		kind, _ := tokClassify(tokTagName(raw[2:]))
		if st.template > 0 {
			if kind == tokTagTemplate {
				st.template--
			}
			return Pending
		}
		// Before any doctype, <html>, <head> or <body>, end tags are not
		// content and say nothing about the document.
		switch kind {
		case tokTagHead, tokTagBody, tokTagHTML, tokTagBr:
			if st.docSeen {
				return Injected
			}
		}
	}
	return Pending
}

type tokTagKind uint8

const (
	tokTagOther    tokTagKind = iota // starts the body
	tokTagHTML                       // html
	tokTagHead                       // head
	tokTagBody                       // body
	tokTagBr                         // br: its end tag ends the head
	tokTagScript                     // script
	tokTagTemplate                   // template
	tokTagHeadOnly                   // allowed in the head and not an injection point
)

// tokTagName returns the tag name at the start of b (a tag's raw bytes after
// "<" or "</"), delimited the way the Tokenizer delimits it.
func tokTagName(b []byte) []byte {
	for i, c := range b {
		switch c {
		case ' ', '\n', '\r', '\t', '\f', '/', '>':
			return b[:i]
		}
	}
	return b
}

// tokClassify returns the kind of a tag name (ASCII case-insensitive) and, for
// the elements after whose start tag the Tokenizer reads raw text, the
// element's lower-case name.
func tokClassify(name []byte) (tokTagKind, string) {
	var buf [len("plaintext")]byte
	if len(name) > len(buf) {
		return tokTagOther, ""
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(name)]) {
	case "html":
		return tokTagHTML, ""
	case "head":
		return tokTagHead, ""
	case "body":
		return tokTagBody, ""
	case "br":
		return tokTagBr, ""
	case "script":
		return tokTagScript, "script"
	case "template":
		return tokTagTemplate, ""
	case "base", "basefont", "bgsound", "link", "meta":
		return tokTagHeadOnly, ""
	case "noframes":
		return tokTagHeadOnly, "noframes"
	case "noscript":
		return tokTagHeadOnly, "noscript"
	case "style":
		return tokTagHeadOnly, "style"
	case "title":
		return tokTagHeadOnly, "title"
	case "iframe":
		return tokTagOther, "iframe"
	case "noembed":
		return tokTagOther, "noembed"
	case "plaintext":
		return tokTagOther, "plaintext"
	case "textarea":
		return tokTagOther, "textarea"
	case "xmp":
		return tokTagOther, "xmp"
	}
	return tokTagOther, ""
}

// hasNonSpace reports whether b holds a byte other than HTML whitespace. Any
// such byte, NUL and invalid UTF-8 included, makes a parser start the body.
func hasNonSpace(b []byte) bool {
	for _, c := range b {
		if !isSpace(c) {
			return true
		}
	}
	return false
}

// trimOpener drops a trailing "<" or "</" from incomplete text: with more
// bytes it may turn out to open a tag rather than be text.
func trimOpener(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("</")) {
		return b[:len(b)-2]
	}
	return bytes.TrimSuffix(b, []byte("<"))
}

// tailKind is the kind of incomplete token a scan stopped in, which says
// which new bytes can possibly end it (see mayProgress).
type tailKind uint8

const (
	tailAny     tailKind = iota // unknown or empty: any byte may matter
	tailSpace                   // whitespace text: a non-whitespace byte
	tailText                    // text inside a template: a tag opener
	tailMarkup                  // tag, doctype, bogus comment: a '>'
	tailComment                 // <!-- comment: "-->" or "--!>"
	tailRaw                     // raw text of tailTag: "</tailTag" and a delimiter
)

// shortTail is the length under which an incomplete token is always
// rescanned rather than classified: "<!" and the two bytes after it, which
// readMarkupDeclaration peeks at before it knows what the token is ("<!>" is
// complete only once the byte after it is seen). Past those, every token
// ends at a byte that mayProgress looks for.
const shortTail = len("<!--")

// setTail records the kind of the incomplete token that starts at pos; tt is
// its type, or ErrorToken if the tokenizer returned nothing for it.
func (r *tokRewriter) setTail(data []byte, pos int, st tokScanState, tt html.TokenType) {
	r.tailStart, r.tailTag = pos, ""
	tail := data[pos:]
	switch {
	case len(tail) < shortTail:
		r.tail = tailAny
	case st.rawTag != "" && tt == html.TextToken:
		r.tail, r.tailTag = tailRaw, st.rawTag
	case st.rawTag != "" && tt == html.ErrorToken:
		// The raw text was empty and its end tag is in progress:
		// "<title></title lang=en".
		r.tail = tailMarkup
	case tt == html.TextToken && st.template > 0:
		r.tail = tailText
	case tt == html.TextToken && bytes.IndexByte(tail, '<') < 0:
		r.tail = tailSpace // not decided, so all whitespace
	case tt == html.CommentToken && bytes.HasPrefix(tail, []byte("<!--")):
		r.tail = tailComment
	case tt == html.CommentToken || tt == html.DoctypeToken ||
		tt == html.ErrorToken && tail[0] == '<':
		// A start or end tag in progress comes back as ErrorToken.
		r.tail = tailMarkup
	default:
		r.tail = tailAny
	}
}

// mayProgress reports whether the bytes that arrived since the last scan or
// check could complete the token that scan stopped in (or decide the
// outcome). It must never say false when a scan would find something new; it
// may say true needlessly. It looks only at the new bytes (and a few before
// them), and when it says false it marks them checked, so the cost of a Write
// stays proportional to its size.
func (r *tokRewriter) mayProgress(data []byte) bool {
	if r.tail == tailAny || r.mayEnd(data, r.checked) {
		return true
	}
	r.checked = len(data)
	return false
}

// mayEnd implements mayProgress for the bytes from offset from on; every
// pattern it looks for ends at a byte at or after from.
func (r *tokRewriter) mayEnd(data []byte, from int) bool {
	switch r.tail {
	case tailSpace:
		return hasNonSpace(data[from:])
	case tailMarkup:
		return bytes.IndexByte(data[from:], '>') >= 0
	case tailText:
		// Text ends where '<' is followed by a letter, '/', '!' or '?'.
		for i := max(from, r.tailStart+1); i < len(data); i++ {
			if data[i-1] == '<' && isOpener(data[i]) {
				return true
			}
		}
		return false
	case tailComment:
		// readComment ends a comment at "-->", "--!>", or right after
		// "<!--" or "<!---".
		start := r.tailStart + len("<!--")
		for i := from; i < len(data); i++ {
			if data[i] != '>' {
				continue
			}
			if i == start || i == start+1 && data[start] == '-' ||
				i-2 >= start && data[i-1] == '-' && data[i-2] == '-' ||
				i-3 >= start && data[i-1] == '!' && data[i-2] == '-' && data[i-3] == '-' {
				return true
			}
		}
		return false
	case tailRaw:
		// Raw text (and script data, whatever its escapes) ends only at
		// "</" + tag + one of the delimiters below.
		n := len("</") + len(r.tailTag)
		for i := max(from, r.tailStart+n); i < len(data); i++ {
			switch data[i] {
			case ' ', '\n', '\r', '\t', '\f', '/', '>':
				if data[i-n] == '<' && data[i-n+1] == '/' &&
					EqualFoldASCII(data[i-n+2:i], r.tailTag) {
					return true
				}
			}
		}
		return false
	}
	return true
}

func isOpener(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '/' || c == '!' || c == '?'
}

// metaIsCSP reports whether raw, a complete start tag, is a
// <meta http-equiv="Content-Security-Policy">.
func metaIsCSP(raw []byte) bool {
	z := html.NewTokenizer(bytes.NewReader(raw))
	z.Next()
	name, more := z.TagName()
	if string(name) != "meta" {
		return false
	}
	for more {
		var k, v []byte
		k, v, more = z.TagAttr()
		if string(k) == "http-equiv" {
			return strings.EqualFold(strings.TrimSpace(string(v)), "content-security-policy")
		}
	}
	return false
}

// firstNonSpace returns the offset of the first byte of b that is not HTML
// whitespace.
func firstNonSpace(b []byte) int {
	for i, c := range b {
		if !isSpace(c) {
			return i
		}
	}
	return len(b)
}
