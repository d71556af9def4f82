package injector

import (
	"bytes"
	"sync"
)

// This file holds the HTML grammar of the injection decision: a streaming
// scanner that reads a body's start exactly once, a byte or a run of bytes
// that cannot change its state at a time, and decides where (and whether)
// the snippet goes. rewriter.go does the I/O; headscan_tag.go reads tags.
//
// The scanner models what golang.org/x/net/html's tokenizer and parser do
// (the parser is the test oracle, see headscan_tree_test.go), but keeps only
// what the decision needs: the tokenizer state (data, tag, attribute value,
// comment, doctype, CDATA, raw text and the script escape states), the name
// of the tag being read (lower case, in a fixed array) and the few attribute
// values that matter (a <meta>'s http-equiv, charset and content; an
// annotation-xml's encoding; whether a <font> has color, face or size). It
// allocates nothing, and the Rewriter feeds it every byte once, so its work
// is linear in the bytes before the decision whatever the write pattern.
//
// Inside <template> it also keeps a small stack of the elements that decide
// how the tokenizer reads what follows: the templates themselves and foreign
// content (<svg>, <math>) with its integration points, where <title>,
// <style> and <script> are not raw text and <![CDATA[ opens a CDATA section.
// HTML elements are kept on that stack only while foreign content is open
// (they can end it). Where it cannot tell what a real parser would do (an
// unbalanced end tag inside foreign content that might close an element it
// did not keep, or a nesting deeper than the stack), it declines to inject
// (NoInjectionPoint) rather than guess.

// lexState is the tokenizer state of the scanner.
type lexState uint8

const (
	lexBOM            lexState = iota // at the start: a byte order mark may follow
	lexData                           // text
	lexLt                             // after '<' in text
	lexEndOpen                        // after "</"
	lexTagName                        // in a start or end tag's name
	lexBeforeAttr                     // in a tag, between attributes
	lexAttrName                       // in an attribute name
	lexAfterAttr                      // after an attribute name
	lexBeforeValue                    // after '='
	lexValueQuoted                    // in a quoted attribute value (quote in s.quote)
	lexValueBare                      // in an unquoted attribute value
	lexMarkup                         // after "<!"
	lexMarkupDash                     // after "<!-"
	lexDoctypeWord                    // matching "DOCTYPE" after "<!"
	lexCDATAWord                      // matching "[CDATA[" after "<!"
	lexDoctype                        // in a doctype, until '>'
	lexBogus                          // in a bogus comment, until '>'
	lexComment                        // in a "<!--" comment
	lexCDATA                          // in a CDATA section, until "]]>"
	lexRaw                            // raw text or RCDATA of s.raw
	lexRawLt                          // after '<' in raw text
	lexRawEnd                         // matching s.raw's name after "</" (then s.ret on a mismatch)
	lexPlaintext                      // everything to the end
	lexScript                         // script data
	lexScriptLt                       // after '<'
	lexScriptBang                     // after "<!"
	lexScriptBangDash                 // after "<!-"
	lexEsc                            // script data escaped
	lexEscDash                        // after '-'
	lexEscDashDash                    // after "--"
	lexEscLt                          // after '<'
	lexDblStart                       // matching "script" after '<'
	lexDbl                            // script data double escaped
	lexDblDash                        // after '-'
	lexDblDashDash                    // after "--"
	lexDblLt                          // after '<'
	lexRef                            // after '&' in text that could end the head
	lexRefNum                         // after "&#"
	lexRefDec                         // in a decimal character reference
	lexRefHex                         // after "&#x", in its hex digits
	lexRefName                        // matching s.refWord after '&'
)

// Bounds of the fixed buffers.
const (
	nameCap    = 32  // tag name bytes kept (longer names are compared by prefix and length)
	elemName   = 15  // name bytes kept per stack element
	stackCap   = 32  // elements kept inside templates
	valueCap   = 128 // attribute value bytes kept (meta content)
	charsetCap = 40  // longest charset label accepted
)

// ns is an element's namespace.
type ns uint8

const (
	nsHTML ns = iota
	nsSVG
	nsMath
)

// elem is an element on the scanner's stack.
type elem struct {
	opened   uint64 // template: names (hashed) of the HTML elements opened in it that are not on the stack
	template bool   // an HTML <template>
	ns       ns
	ip       uint8 // integration point: ipHTML, ipMathText, ipAnnotation (flags)
	nameLen  uint8 // full length, capped at 255
	name     [elemName]byte
}

const (
	ipHTML       = 1 << iota // svg foreignObject/desc/title, annotation-xml with an HTML encoding
	ipMathText               // math mi, mo, mn, ms, mtext
	ipAnnotation             // math annotation-xml (an <svg> start tag in it is HTML)
)

func (e *elem) foreign() bool { return e.ns != nsHTML }

// headScanner is the streaming state of the injection decision. Its zero
// value is ready; it is embedded in the Rewriter.
type headScanner struct {
	pos      int // body offset of the next byte
	lex      lexState
	ret      lexState // lexRawEnd: where a mismatch goes back to
	tokStart int      // where the current token starts
	ltPos    int      // where the '<' of the tag being read is
	prev     byte     // the byte before the current one
	match    int      // progress matching a fixed word
	quote    byte
	dashes   int  // comment: '-' run
	begin    bool // comment: nothing but dashes yet
	bang     bool // comment: after "--!"
	raw      tagID

	// The tag being read.
	endTag    bool
	nameLen   int
	name      [nameCap]byte
	id        tagID
	attrLen   int
	attrName  [16]byte
	attr      attrID
	seen      uint8 // attributes already read on this tag (the first one counts)
	valLen    int
	value     [valueCap]byte
	equiv     equivKind // meta http-equiv
	hasCS     bool      // meta charset attribute present
	csLen     int
	cs        [charsetCap]byte
	ctLen     int // meta content, kept when http-equiv is Content-Type
	ct        [valueCap]byte
	encHTML   bool // annotation-xml encoding is HTML
	fontAttr  bool // font has color, face or size
	bareSlash bool // an unquoted value ended in '/' right before '>'

	// The decision.
	docSeen bool // a doctype, <html>, <head> or <body> came before any content
	outcome Outcome
	at      int
	unsure  bool // declined: cannot tell what a parser would do

	// A character reference in text that could end the head: it is
	// whitespace if it decodes to whitespace (headscan_charref.go).
	refStart  int    // where its '&' is
	refVal    int    // the numeric value so far (capped)
	refDigits bool   // a numeric reference has digits
	refWord   string // the named reference being matched

	// templateInForeign records a <template> opened inside foreign content
	// (in an integration point). golang.org/x/net/html's parser, the test
	// oracle, loses the rest of such a document; the tests set these aside.
	templateInForeign bool

	// Inside templates. The stack comes from a pool when the first
	// template opens (most heads have none) and goes back with the hold
	// buffer once the outcome is decided.
	stack     *[stackCap]elem
	depth     int // elements on the stack
	templates int // templates on the stack

	// The first <meta> that declares a charset.
	charsetFound bool
	charsetStart int
	charsetEnd   int
	charsetLen   int
	charset      [charsetCap]byte

	// lookahead, once decided: scan on up to this offset for a charset
	// declaration (0: not looking).
	lookahead int
}

type attrID uint8

const (
	attrOther attrID = iota
	attrHTTPEquiv
	attrCharset
	attrContent
	attrEncoding
)

type equivKind uint8

const (
	equivOther equivKind = iota
	equivCSP
	equivContentType
)

// prescanWindow is how far browsers look for a <meta> charset declaration
// (the HTML standard's prescan reads the first 1024 bytes).
const prescanWindow = 1024

// decided reports whether the scan is over: the outcome is known and any
// charset lookahead is done.
func (s *headScanner) decided() bool { return s.outcome != Pending && s.lookahead == 0 }

// decide records the outcome, with the injection point at. findCharset
// asks to keep scanning for a charset declaration that the snippet would
// push out of the prescan window; that is only possible when the decision
// comes inside the head (at a <script> or a <meta> policy), and the
// lookahead ends at byte 1024 or where the head ends, whichever is first.
func (s *headScanner) decide(o Outcome, at int, findCharset bool) {
	if s.outcome != Pending {
		return
	}
	s.outcome, s.at = o, at
	if o == Injected && findCharset && !s.charsetFound && s.pos < prescanWindow {
		s.lookahead = prescanWindow
	}
}

// endLookahead ends the charset lookahead where the head ends: a <meta>
// after that is not where a page declares its charset, and holding the
// response any longer would delay a page that streams its head.
func (s *headScanner) endLookahead() {
	s.lookahead = 0
}

// feed scans b, the body bytes from offset s.pos on, until the scan is over;
// it returns how many bytes it looked at.
func (s *headScanner) feed(b []byte, findCharset bool) int {
	i := 0
	for i < len(b) && !s.decided() {
		if s.lookahead != 0 && s.pos >= s.lookahead {
			s.lookahead = 0
			break
		}
		end := len(b) // where the lookahead ends
		if s.lookahead != 0 {
			end = min(end, i+s.lookahead-s.pos)
		}
		// Fast paths: runs of bytes that cannot change the state.
		switch s.lex {
		case lexTagName, lexBeforeAttr, lexAttrName, lexAfterAttr,
			lexBeforeValue, lexValueQuoted, lexValueBare:
			i = s.tag(b, i, end, findCharset)
			continue
		case lexBogus, lexDoctype:
			if n := indexByte(b[i:], '>'); n > 0 {
				i += s.skip(b, i, n)
				continue
			}
		case lexComment:
			// Bytes other than '-', '>' and '!' only reset the
			// comment's dash count.
			if n := run(b[i:end], &commentStop); n > 0 {
				s.dashes, s.begin, s.bang = 0, false, false
				i += s.skip(b, i, n)
				continue
			}
		case lexRaw, lexScript:
			if n := indexByte(b[i:], '<'); n > 0 {
				n = s.skip(b, i, n)
				i += n
				continue
			}
		case lexPlaintext:
			n := s.skip(b, i, len(b)-i)
			i += n
			continue
		case lexData:
			if n := s.tagOpen(b[i:end]); n > 0 {
				i += n
				continue
			}
			if s.templates > 0 || s.outcome != Pending {
				// Text decides nothing here.
				if n := indexByte(b[i:], '<'); n > 0 {
					i += s.skip(b, i, n)
					continue
				}
			} else if isSpace(b[i]) {
				// Whitespace between the tags of the head.
				n := 1
				for i+n < len(b) && isSpace(b[i+n]) {
					n++
				}
				i += s.skip(b, i, n)
				continue
			}
		}
		s.step(b[i], findCharset)
		s.prev = b[i]
		s.pos++
		i++
	}
	if s.lookahead != 0 && s.pos >= s.lookahead {
		s.lookahead = 0 // looked as far as browsers do
	}
	return i
}

// commentStop marks the bytes that matter in a comment.
var commentStop = [256]bool{'-': true, '>': true, '!': true}

// indexByte is bytes.IndexByte, or len(b) when c is absent.
func indexByte(b []byte, c byte) int {
	if i := bytes.IndexByte(b, c); i >= 0 {
		return i
	}
	return len(b)
}

// skip steps over n bytes of b from i that the current state ignores, but
// not past the lookahead limit; it returns how many it skipped.
func (s *headScanner) skip(b []byte, i, n int) int {
	if s.lookahead != 0 {
		n = min(n, s.lookahead-s.pos)
	}
	if n > 0 {
		s.pos += n
		s.prev = b[i+n-1]
	}
	return n
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// step advances the state by one byte c at offset s.pos.
func (s *headScanner) step(c byte, findCharset bool) {
	for {
		if !s.step1(c, findCharset) {
			return
		}
		// c is reconsumed in the new state.
	}
}

// step1 handles c in the current state and reports whether c must be
// handled again in the state it switched to.
func (s *headScanner) step1(c byte, fc bool) (again bool) {
	switch s.lex {
	case lexBOM:
		const b = "\xef\xbb\xbf"
		if c == b[s.match] {
			s.match++
			if s.match == len(b) {
				s.lex, s.match, s.tokStart = lexData, 0, s.pos+1
			}
			return false
		}
		s.lex = lexData
		if s.match > 0 {
			// Part of a byte order mark: text that is not whitespace.
			s.match = 0
			s.text(0, fc)
			return s.outcome == Pending || s.lookahead != 0
		}
		return true

	case lexData:
		switch {
		case c == '<':
			s.lex, s.ltPos = lexLt, s.pos
		case c == '&' && s.templates == 0 && s.outcome == Pending:
			s.lex, s.refStart = lexRef, s.pos
		case !isSpace(c):
			s.text(s.pos, fc)
		}

	case lexRef, lexRefNum, lexRefDec, lexRefHex, lexRefName:
		return s.charRef(c, fc)

	case lexLt:
		switch {
		case isLetter(c):
			s.startTagName(c, false)
		case c == '/':
			s.lex = lexEndOpen
		case c == '!':
			s.lex = lexMarkup
		case c == '?':
			s.lex = lexBogus
		default:
			// The '<' is text.
			s.lex = lexData
			s.text(s.ltPos, fc)
			return true
		}

	case lexEndOpen:
		switch {
		case isLetter(c):
			s.startTagName(c, true)
		case c == '>':
			// "</>" is no token at all.
			s.endToken()
		default:
			s.lex = lexBogus
		}

	// The tag name and attribute states are run by tag.

	case lexMarkup:
		switch {
		case c == '-':
			s.lex = lexMarkupDash
		case c == 'd' || c == 'D':
			s.lex, s.match = lexDoctypeWord, 1
		case c == '[' && s.cdataAllowed():
			s.lex, s.match = lexCDATAWord, 1
		default:
			s.lex = lexBogus
			return true
		}

	case lexMarkupDash:
		if c == '-' {
			s.lex, s.dashes, s.begin, s.bang = lexComment, 0, true, false
			return false
		}
		s.lex = lexBogus
		return true

	case lexDoctypeWord:
		const w = "doctype"
		if lower(c) != w[s.match] {
			s.lex = lexBogus
			return true
		}
		if s.match++; s.match == len(w) {
			s.lex = lexDoctype
		}

	case lexCDATAWord:
		const w = "[CDATA["
		if c != w[s.match] {
			s.lex = lexBogus
			return true
		}
		if s.match++; s.match == len(w) {
			s.lex, s.match = lexCDATA, 0
		}

	case lexDoctype:
		if c == '>' {
			s.docSeen = true
			s.endToken()
		}

	case lexBogus:
		if c == '>' {
			s.endToken()
		}

	case lexComment:
		switch {
		case s.bang:
			s.bang = false
			switch c {
			case '>':
				s.endToken()
				return false
			case '-':
				s.dashes, s.begin = 1, false
				return false
			}
			s.dashes, s.begin = 0, false
		case c == '-':
			s.dashes++
		case c == '>' && (s.dashes >= 2 || s.begin):
			s.endToken()
		case c == '!' && s.dashes >= 2:
			s.bang = true
		default:
			s.dashes, s.begin = 0, false
		}

	case lexCDATA:
		switch {
		case c == ']':
			s.match++
		case c == '>' && s.match >= 2:
			s.endToken()
		default:
			s.match = 0
		}

	case lexRaw:
		if c == '<' {
			s.lex, s.ltPos = lexRawLt, s.pos
		}

	case lexRawLt:
		if c == '/' {
			s.lex, s.ret, s.match = lexRawEnd, lexRaw, 0
			return false
		}
		s.lex = lexRaw
		return true

	case lexRawEnd:
		name := tagNames[s.raw]
		if s.match < len(name) {
			if lower(c) != name[s.match] {
				s.lex = s.ret
				return true
			}
			s.match++
			return false
		}
		switch c {
		case ' ', '\n', '\r', '\t', '\f', '/', '>':
		default:
			s.lex = s.ret
			return true
		}
		if s.ret == lexDbl {
			// "</script>" ends the double escape, not the script.
			s.lex = lexEsc
			return false
		}
		// The end tag of the raw-text element: read it as a tag, c ending
		// its name.
		s.raw = tagNone
		s.tokStart = s.ltPos
		s.endTag, s.nameLen, s.seen = true, copy(s.name[:], name), 0
		s.resetTag()
		s.nameDone()
		s.lex = lexBeforeAttr
		if c == '>' {
			s.tagDone(fc)
		}

	case lexPlaintext:

	case lexScript:
		if c == '<' {
			s.lex, s.ltPos = lexScriptLt, s.pos
		}
	case lexScriptLt:
		switch c {
		case '/':
			s.lex, s.ret, s.match = lexRawEnd, lexScript, 0
		case '!':
			s.lex = lexScriptBang
		default:
			s.lex = lexScript
			return true
		}
	case lexScriptBang:
		if c == '-' {
			s.lex = lexScriptBangDash
			return false
		}
		s.lex = lexScript
		return true
	case lexScriptBangDash:
		if c == '-' {
			s.lex = lexEscDashDash
			return false
		}
		s.lex = lexScript
		return true
	case lexEsc, lexEscDash, lexEscDashDash:
		switch {
		case c == '-':
			if s.lex == lexEsc {
				s.lex = lexEscDash
			} else {
				s.lex = lexEscDashDash
			}
		case c == '<':
			s.lex, s.ltPos = lexEscLt, s.pos
		case c == '>' && s.lex == lexEscDashDash:
			s.lex = lexScript
		default:
			s.lex = lexEsc
		}
	case lexEscLt:
		switch {
		case c == '/':
			s.lex, s.ret, s.match = lexRawEnd, lexEsc, 0
		case isLetter(c):
			s.lex, s.match = lexDblStart, 0
			return true
		default:
			s.lex = lexScript
			return true
		}
	case lexDblStart:
		const w = "script"
		if s.match < len(w) {
			if lower(c) != w[s.match] {
				s.lex = lexEsc
				return true
			}
			s.match++
			return false
		}
		switch c {
		case ' ', '\n', '\r', '\t', '\f', '/', '>':
			s.lex = lexDbl
			return false
		}
		s.lex = lexEsc
		return true
	case lexDbl, lexDblDash, lexDblDashDash:
		switch {
		case c == '-':
			if s.lex == lexDbl {
				s.lex = lexDblDash
			} else {
				s.lex = lexDblDashDash
			}
		case c == '<':
			s.lex = lexDblLt
		case c == '>' && s.lex == lexDblDashDash:
			s.lex = lexScript
		default:
			s.lex = lexDbl
		}
	case lexDblLt:
		if c == '/' {
			s.lex, s.ret, s.match = lexRawEnd, lexDbl, 0
			s.raw = tagScript
			return false
		}
		s.lex = lexDbl
		return true
	}
	return false
}

// endToken ends a token at the current byte: the next one starts after it.
func (s *headScanner) endToken() {
	s.lex = lexData
	s.tokStart = s.pos + 1
}

// text handles a byte of text at offset at that is not whitespace (in the
// data state): outside templates it ends the head. The injection point is
// that byte, not the start of the text token: whitespace before it stays
// where it was, which matters where a parser drops whitespace (before
// <head>) but would keep it after our script, in the head.
func (s *headScanner) text(at int, fc bool) {
	if s.templates == 0 && s.outcome == Pending {
		s.decide(s.content(), at, false)
	} else if s.lookahead != 0 {
		s.endLookahead()
	}
}

// content is the outcome of the first content outside the head.
func (s *headScanner) content() Outcome {
	if s.docSeen {
		return Injected
	}
	return Fragment
}

func (s *headScanner) startTagName(c byte, end bool) {
	s.endTag = end
	s.name[0] = lower(c)
	s.nameLen = 1
	s.seen = 0
	s.resetTag()
	s.lex = lexTagName
}

func (s *headScanner) resetTag() {
	s.equiv, s.hasCS, s.csLen, s.ctLen = equivOther, false, 0, 0
	s.encHTML, s.fontAttr, s.bareSlash = false, false, false
}

// nameDone classifies the tag name.
func (s *headScanner) nameDone() {
	s.id = tagNone
	if s.nameLen <= nameCap {
		s.id = lookupTag(s.name[:s.nameLen])
	}
}

func (s *headScanner) attrByte(c byte) {
	if s.attrLen < len(s.attrName) {
		s.attrName[s.attrLen] = lower(c)
	}
	s.attrLen++
}

// attrNamed classifies the attribute name, for the tags whose attributes
// matter; a repeated attribute is ignored, as a parser ignores it.
func (s *headScanner) attrNamed() {
	s.attr = attrOther
	if s.endTag || s.attrLen > len(s.attrName) {
		return
	}
	var a attrID
	switch s.id {
	case tagMeta:
		switch string(s.attrName[:s.attrLen]) {
		case "http-equiv":
			a = attrHTTPEquiv
		case "charset":
			a = attrCharset
		case "content":
			a = attrContent
		}
	case tagAnnotationXML:
		if string(s.attrName[:s.attrLen]) == "encoding" {
			a = attrEncoding
		}
	case tagFont:
		switch string(s.attrName[:s.attrLen]) {
		case "color", "face", "size":
			s.fontAttr = true
		}
	}
	if a != attrOther && s.seen&(1<<a) == 0 {
		s.seen |= 1 << a
		s.attr = a
		s.valLen = 0
	}
}

// attrDone records the value of an attribute that matters.
func (s *headScanner) attrDone() {
	a := s.attr
	s.attr = attrOther
	if a == attrOther {
		return
	}
	v := s.value[:min(s.valLen, valueCap)]
	switch a {
	case attrHTTPEquiv:
		v = trimSpace(v)
		switch {
		case EqualFoldASCII(v, "content-security-policy"):
			s.equiv = equivCSP
		case EqualFoldASCII(v, "content-type"):
			s.equiv = equivContentType
		}
	case attrCharset:
		s.hasCS = true
		s.csLen = 0
		if s.valLen <= valueCap {
			s.csLen = copy(s.cs[:], trimSpace(v))
			if len(trimSpace(v)) > charsetCap {
				s.csLen = 0
			}
		}
	case attrContent:
		s.ctLen = 0
		if s.valLen <= valueCap {
			s.ctLen = copy(s.ct[:], v)
		}
	case attrEncoding:
		s.encHTML = s.valLen <= valueCap &&
			(EqualFoldASCII(v, "text/html") || EqualFoldASCII(v, "application/xhtml+xml"))
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// tagDone handles a complete start or end tag.
func (s *headScanner) tagDone(fc bool) {
	start := s.ltPos
	selfClosing := !s.endTag && s.prev == '/' && !s.bareSlash
	s.endToken()
	if s.endTag {
		s.endTagDone(start, fc)
	} else {
		s.startTagDone(start, selfClosing, fc)
	}
}

// enterRaw switches the tokenizer to the element's raw text, if it has one.
func (s *headScanner) enterRaw() {
	switch s.id {
	case tagScript:
		s.lex, s.raw = lexScript, tagScript
	case tagPlaintext:
		s.lex = lexPlaintext
	case tagStyle, tagTitle, tagNoscript, tagNoframes, tagTextarea, tagXmp, tagIframe, tagNoembed:
		s.lex, s.raw = lexRaw, s.id
	}
}

func (s *headScanner) startTagDone(start int, selfClosing, fc bool) {
	if s.id == tagMeta && s.templates == 0 {
		s.noteCharset(start)
	}
	if s.outcome != Pending {
		// Looking ahead for a charset declaration only, up to the end of
		// the head.
		switch {
		case tagFlags[s.id]&flagHead != 0:
		case s.id == tagScript, s.id == tagTemplate, s.id == tagHTML, s.id == tagHead:
		default:
			s.endLookahead()
		}
		s.enterRaw()
		return
	}
	if s.templates > 0 {
		s.templateStart(selfClosing)
		return
	}
	switch s.id {
	case tagHTML, tagHead:
		s.docSeen = true
		return
	case tagBody:
		s.docSeen = true
		s.decide(Injected, start, false)
		return
	}
	if !s.docSeen {
		s.decide(Fragment, start, false)
		return
	}
	switch {
	case s.id == tagTemplate:
		s.push(elem{template: true})
		s.templates++
	case s.id == tagMeta && s.equiv == equivCSP:
		// A policy in a <meta> governs only what comes after it: our
		// script goes before it, where no nonce or hash is needed.
		s.decide(Injected, start, fc)
	case tagFlags[s.id]&flagHead != 0:
		s.enterRaw()
	default:
		// <script>, or an element that starts the body.
		s.decide(Injected, start, fc && s.id == tagScript)
		s.enterRaw()
	}
}

func (s *headScanner) endTagDone(start int, fc bool) {
	if s.outcome != Pending {
		switch s.id {
		case tagHead, tagBody, tagHTML, tagBr:
			s.endLookahead()
		}
		return
	}
	if s.templates > 0 {
		s.templateEnd()
		return
	}
	// Before any doctype, <html>, <head> or <body>, end tags are not
	// content and say nothing about the document.
	switch s.id {
	case tagHead, tagBody, tagHTML, tagBr:
		if s.docSeen {
			s.decide(Injected, start, false)
		}
	}
}

// noteCharset records the first <meta> that declares a charset.
func (s *headScanner) noteCharset(start int) {
	if s.charsetFound {
		return
	}
	var label []byte
	switch {
	case s.hasCS:
		label = s.cs[:s.csLen]
	case s.equiv == equivContentType:
		label = charsetFromContent(s.ct[:s.ctLen])
	default:
		return
	}
	if !validCharset(label) {
		return
	}
	s.charsetFound = true
	s.charsetStart, s.charsetEnd = start, s.pos+1
	s.charsetLen = copy(s.charset[:], label)
	if s.lookahead != 0 {
		s.lookahead = 0 // found what we were looking for
	}
}

// charsetFromContent extracts the charset from a meta content value, as the
// HTML standard's "extracting a character encoding from a meta element".
func charsetFromContent(v []byte) []byte {
	for i := 0; i+len("charset") <= len(v); i++ {
		if !EqualFoldASCII(v[i:i+len("charset")], "charset") {
			continue
		}
		j := i + len("charset")
		for j < len(v) && isSpace(v[j]) {
			j++
		}
		if j >= len(v) || v[j] != '=' {
			i = j - 1
			continue
		}
		j++
		for j < len(v) && isSpace(v[j]) {
			j++
		}
		if j >= len(v) {
			return nil
		}
		if q := v[j]; q == '"' || q == '\'' {
			end := indexByte(v[j+1:], q)
			if j+1+end >= len(v) {
				return nil // unmatched quote
			}
			return v[j+1 : j+1+end]
		}
		k := j
		for k < len(v) && !isSpace(v[k]) && v[k] != ';' {
			k++
		}
		return v[j:k]
	}
	return nil
}

// validCharset accepts a charset label that is safe in a header: 1 to 40
// letters, digits and "-_.:".
func validCharset(b []byte) bool {
	if len(b) == 0 || len(b) > charsetCap {
		return false
	}
	for _, c := range b {
		if !(isLetter(c) || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// movedCharset returns the charset declared by a <meta> that the snippet
// pushes out of the browser's prescan window, or "". A browser obeys a
// <meta> charset only within the first 1024 bytes; one that ended there
// before the injection and does not after it would stop counting.
func (s *headScanner) movedCharset(snippetLen int) string {
	if s.outcome != Injected || !s.charsetFound || s.charsetStart < s.at ||
		s.charsetEnd > prescanWindow || s.charsetEnd+snippetLen <= prescanWindow {
		return ""
	}
	label := s.charset[:s.charsetLen]
	// A <meta> that says UTF-16 means UTF-8 (the prescan's own rule), and
	// x-user-defined means windows-1252.
	switch {
	case len(label) >= 6 && EqualFoldASCII(label[:6], "utf-16"):
		return "utf-8"
	case EqualFoldASCII(label, "x-user-defined"):
		return "windows-1252"
	}
	return string(label)
}

// finish settles the scan at the end of the body: a '<' or "</" left open
// is text; a partial byte order mark is text.
func (s *headScanner) finish() {
	switch s.lex {
	case lexBOM:
		if s.match > 0 {
			s.text(0, false)
		}
	case lexLt, lexEndOpen:
		s.text(s.ltPos, false)
	case lexRef, lexRefNum, lexRefDec, lexRefHex, lexRefName:
		s.charRefEnd(false)
	}
	s.lookahead = 0
}

// --- The stack inside templates. ---

func (s *headScanner) top() *elem { return &s.stack[s.depth-1] }

func (s *headScanner) push(e elem) {
	if s.stack == nil {
		s.stack = stackPool.Get().(*[stackCap]elem)
	}
	if s.depth == stackCap {
		s.giveUp()
		return
	}
	s.stack[s.depth] = e
	s.depth++
}

var stackPool = sync.Pool{New: func() any { return new([stackCap]elem) }}

// release returns the stack to the pool; the scan is over.
func (s *headScanner) release() {
	if s.stack != nil {
		stackPool.Put(s.stack)
		s.stack, s.depth = nil, 0
	}
}

// giveUp declines to inject: the scanner cannot tell what a parser does.
func (s *headScanner) giveUp() {
	s.unsure = true
	s.decide(NoInjectionPoint, 0, false)
}

// newElem makes a stack element of the current tag in namespace n.
func (s *headScanner) newElem(n ns) elem {
	e := elem{ns: n, nameLen: uint8(min(s.nameLen, 255))}
	copy(e.name[:], s.name[:min(s.nameLen, nameCap)])
	switch {
	case n == nsSVG && (s.id == tagForeignObject || s.id == tagDesc || s.id == tagTitle):
		e.ip = ipHTML
	case n == nsMath && tagFlags[s.id]&flagMathText != 0:
		e.ip = ipMathText
	case n == nsMath && s.id == tagAnnotationXML:
		e.ip = ipAnnotation
		if s.encHTML {
			e.ip |= ipHTML
		}
	}
	return e
}

// named reports whether e has the current tag's name.
func (s *headScanner) named(e *elem) bool {
	if int(e.nameLen) != min(s.nameLen, 255) {
		return false
	}
	n := min(s.nameLen, elemName)
	return string(e.name[:n]) == string(s.name[:n])
}

// foreignAbove reports whether foreign content is open above the innermost
// template.
func (s *headScanner) foreignAbove() bool {
	for i := s.depth - 1; i >= 0 && !s.stack[i].template; i-- {
		if s.stack[i].foreign() {
			return true
		}
	}
	return false
}

// popBreakout pops foreign elements down to an HTML element or an
// integration point, as a breakout tag does.
func (s *headScanner) popBreakout() {
	for s.depth > 0 {
		t := s.top()
		if !t.foreign() || t.ip&(ipHTML|ipMathText) != 0 {
			return
		}
		s.depth--
	}
}

// templateStart handles a start tag inside a template.
func (s *headScanner) templateStart(selfClosing bool) {
	if t := s.top(); t.foreign() {
		html := t.ip&ipHTML != 0 ||
			t.ip&ipMathText != 0 && s.id != tagMglyph && s.id != tagMalignmark ||
			t.ip&ipAnnotation != 0 && s.id == tagSVG
		if !html {
			if tagFlags[s.id]&flagBreakout == 0 && !(s.id == tagFont && s.fontAttr) {
				// A foreign element: never raw text.
				if !selfClosing {
					s.push(s.newElem(t.ns))
				}
				return
			}
			s.popBreakout()
		}
	}
	switch {
	case s.id == tagTemplate:
		for i := range s.depth {
			if s.stack[i].foreign() {
				s.templateInForeign = true
			}
		}
		s.push(elem{template: true})
		s.templates++
	case s.id == tagSVG || s.id == tagMath:
		if !selfClosing {
			n := nsSVG
			if s.id == tagMath {
				n = nsMath
			}
			s.push(s.newElem(n))
		}
	case tagFlags[s.id]&flagRaw != 0:
		s.enterRaw()
	case tagFlags[s.id]&flagVoid != 0:
	case s.id == tagHTML || s.id == tagHead || s.id == tagBody:
		// Ignored inside a template.
	default:
		if s.foreignAbove() {
			s.push(s.newElem(nsHTML))
		} else if t := s.innerTemplate(); t != nil {
			// Not kept: note its name, so that an end tag that cannot
			// close it is known to be ignored.
			t.opened |= s.nameBit()
		}
	}
}

// innerTemplate returns the innermost template on the stack.
func (s *headScanner) innerTemplate() *elem {
	for i := s.depth - 1; i >= 0; i-- {
		if s.stack[i].template {
			return &s.stack[i]
		}
	}
	return nil
}

// nameBit hashes the current tag name to one of 64 bits.
func (s *headScanner) nameBit() uint64 {
	h := uint32(2166136261)
	for _, c := range s.name[:min(s.nameLen, nameCap)] {
		h = (h ^ uint32(c)) * 16777619
	}
	h ^= uint32(s.nameLen)
	return 1 << (h % 64)
}

// templateEnd handles an end tag inside a template.
func (s *headScanner) templateEnd() {
	if s.top().foreign() {
		// A foreign end tag closes the nearest foreign element of its
		// name, looking no further than the foreign elements on top.
		for i := s.depth - 1; i >= 0; i-- {
			e := &s.stack[i]
			if e.foreign() && s.named(e) {
				s.depth = i
				return
			}
			if i > 0 && !s.stack[i-1].foreign() {
				break
			}
		}
	}
	// Processed as HTML.
	switch s.id {
	case tagTemplate:
		for s.depth > 0 {
			s.depth--
			if s.stack[s.depth].template {
				break
			}
		}
		s.templates--
		return
	case tagBody, tagHTML:
		return // not in scope inside a template: ignored
	}
	if !s.foreignAbove() {
		return // nothing kept can change
	}
	if s.id == tagBr || s.id == tagP {
		// </br> is read as <br>, and </p> without an open <p> inserts one:
		// either breaks out of foreign content.
		if s.id == tagP {
			for i := s.depth - 1; i >= 0; i-- {
				e := &s.stack[i]
				if e.template || e.ip&(ipHTML|ipMathText|ipAnnotation) != 0 {
					break
				}
				if !e.foreign() && s.named(e) {
					s.depth = i
					return
				}
			}
		}
		s.popBreakout()
		return
	}
	for i := s.depth - 1; i >= 0; i-- {
		e := &s.stack[i]
		if e.template {
			// The element may be one we did not keep (opened before
			// the foreign content): a parser might close it. If none
			// of that name was opened, it is ignored.
			if e.opened&s.nameBit() != 0 {
				s.giveUp()
			}
			return
		}
		if !e.foreign() && s.named(e) {
			s.depth = i
			return
		}
		if e.ip != 0 {
			return // an integration point stops the search: ignored
		}
	}
}

// cdataAllowed reports whether "<![CDATA[" opens a CDATA section: only when
// the current element is foreign.
func (s *headScanner) cdataAllowed() bool {
	return s.templates > 0 && s.outcome == Pending && s.depth > 0 && s.top().foreign()
}

// --- Tag names. ---

type tagID uint8

const (
	tagNone tagID = iota
	tagHTML
	tagHead
	tagBody
	tagBr
	tagP
	tagScript
	tagTemplate
	tagMeta
	tagStyle
	tagTitle
	tagNoscript
	tagNoframes
	tagTextarea
	tagXmp
	tagIframe
	tagNoembed
	tagPlaintext
	tagSVG
	tagMath
	tagFont
	tagMglyph
	tagMalignmark
	tagAnnotationXML
	tagForeignObject
	tagDesc
	tagMathText // mi, mo, mn, ms, mtext
	tagHeadOther
	tagVoid
	tagBreakout
	tagBreakoutVoid
	numTags
)

const (
	flagHead     = 1 << iota // allowed in the head, not an injection point
	flagRaw                  // followed by raw text (or script data, or plaintext)
	flagVoid                 // no end tag
	flagBreakout             // breaks out of foreign content
	flagMathText             // a MathML text integration point
)

var tagFlags = [numTags]uint8{
	tagHead:         flagBreakout,
	tagBody:         flagBreakout,
	tagBr:           flagBreakout | flagVoid,
	tagP:            flagBreakout,
	tagScript:       flagRaw,
	tagMeta:         flagHead | flagVoid | flagBreakout,
	tagStyle:        flagHead | flagRaw,
	tagTitle:        flagHead | flagRaw,
	tagNoscript:     flagHead | flagRaw,
	tagNoframes:     flagHead | flagRaw,
	tagTextarea:     flagRaw,
	tagXmp:          flagRaw,
	tagIframe:       flagRaw,
	tagNoembed:      flagRaw,
	tagPlaintext:    flagRaw,
	tagMathText:     flagMathText,
	tagHeadOther:    flagHead | flagVoid,
	tagVoid:         flagVoid,
	tagBreakout:     flagBreakout,
	tagBreakoutVoid: flagBreakout | flagVoid,
}

// tagNames are the names of the raw-text elements, for their end tags.
var tagNames = [numTags]string{
	tagScript: "script", tagStyle: "style", tagTitle: "title", tagNoscript: "noscript",
	tagNoframes: "noframes", tagTextarea: "textarea", tagXmp: "xmp", tagIframe: "iframe",
	tagNoembed: "noembed",
}

// lookupTag classifies a lower-case tag name.
func lookupTag(name []byte) tagID {
	switch string(name) {
	case "html":
		return tagHTML
	case "head":
		return tagHead
	case "body":
		return tagBody
	case "br":
		return tagBr
	case "p":
		return tagP
	case "script":
		return tagScript
	case "template":
		return tagTemplate
	case "meta":
		return tagMeta
	case "style":
		return tagStyle
	case "title":
		return tagTitle
	case "noscript":
		return tagNoscript
	case "noframes":
		return tagNoframes
	case "textarea":
		return tagTextarea
	case "xmp":
		return tagXmp
	case "iframe":
		return tagIframe
	case "noembed":
		return tagNoembed
	case "plaintext":
		return tagPlaintext
	case "svg":
		return tagSVG
	case "math":
		return tagMath
	case "font":
		return tagFont
	case "mglyph":
		return tagMglyph
	case "malignmark":
		return tagMalignmark
	case "annotation-xml":
		return tagAnnotationXML
	case "foreignobject":
		return tagForeignObject
	case "desc":
		return tagDesc
	case "mi", "mo", "mn", "ms", "mtext":
		return tagMathText
	case "base", "basefont", "bgsound", "link":
		return tagHeadOther
	case "area", "col", "input", "keygen", "param", "source", "track", "wbr", "frame":
		return tagVoid
	case "embed", "hr", "img":
		return tagBreakoutVoid
	case "b", "big", "blockquote", "center", "code", "dd", "div", "dl", "dt", "em",
		"h1", "h2", "h3", "h4", "h5", "h6", "i", "li", "listing", "menu", "nobr", "ol",
		"pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup", "table",
		"tt", "u", "ul", "var":
		return tagBreakout
	}
	return tagNone
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f'
}
