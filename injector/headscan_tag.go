package injector

import (
	"encoding/binary"
	"math/bits"
)

// This file runs the tokenizer's tag states: the tag name and the attribute
// states. A head is mostly tags, and taking each of their bytes through
// step1 costs a dispatch per byte; here a tag is read in runs over local
// variables, and the scanner's state is stored back once, at the tag's '>'
// or at the end of the chunk. Nothing in a tag can decide the outcome
// before its '>', so feed's per-byte checks are not needed in between.

// tagOpen starts a tag if b, in the data state, starts with "<" or "</" and
// a letter, as step1 would in lexLt and lexEndOpen; it returns the bytes
// read, 0 if b starts anything else.
func (s *headScanner) tagOpen(b []byte) int {
	if len(b) < 2 || b[0] != '<' {
		return 0
	}
	n, end := 1, false
	if b[1] == '/' {
		n, end = 2, true
	}
	if n >= len(b) || !isLetter(b[n]) {
		return 0
	}
	s.ltPos = s.pos
	s.startTagName(b[n], end)
	s.prev = b[n]
	s.pos += n + 1
	return n + 1
}

// tag runs the tag states over b[i:end], the current state being one of
// them, and returns where it stopped: after the tag's '>' (the tag handled)
// or at end.
func (s *headScanner) tag(b []byte, i, end int, fc bool) int {
	start := i
	lex, quote := s.lex, s.quote
	if lex == lexTagName {
		j := i + run(b[i:end], &tagNameEnd)
		s.nameBytes(b[i:j])
		i = j
		if i == end {
			s.pos += i - start
			s.prev = b[i-1]
			return i
		}
		s.nameDone()
		lex = lexBeforeAttr
		if b[i] != '/' && b[i] != '>' {
			i++ // whitespace ends the name; '/' and '>' are read again
		}
	}
	// Only <meta>, <font> and annotation-xml start tags have attributes
	// that matter (attrNamed); the others need just the token's end.
	keep := !s.endTag && (s.id == tagMeta || s.id == tagFont || s.id == tagAnnotationXML)
	for i < end {
		c := b[i]
		switch lex {
		case lexBeforeAttr:
			switch c {
			case ' ', '\n', '\r', '\t', '\f', '/':
				// '/' reads as an attribute with an empty name.
				i++
			case '>':
				s.lex = lexBeforeAttr
				s.pos += i - start
				if i > start {
					s.prev = b[i-1]
				}
				s.tagDone(fc)
				s.prev = '>'
				s.pos++
				return i + 1
			default:
				// c starts a name, even if it is '=' or a quote.
				s.attrLen, s.attr, s.bareSlash = 0, attrOther, false
				if keep {
					s.attrByte(c)
				}
				i++
				lex = lexAttrName
			}

		case lexAttrName:
			j := i + run(b[i:end], &attrNameEnd)
			if keep {
				s.attrBytes(b[i:j])
			}
			i = j
			if i == end {
				break
			}
			if keep {
				s.attrNamed()
			}
			lex = lexAfterAttr // b[i] is read again there
			if b[i] == '=' && i+1 < end && (b[i+1] == '"' || b[i+1] == '\'') {
				// The common name="value": straight to the value.
				quote, s.valLen = b[i+1], 0
				lex = lexValueQuoted
				i += 2
			}

		case lexAfterAttr:
			switch c {
			case ' ', '\n', '\r', '\t', '\f':
				i++
			case '=':
				lex = lexBeforeValue
				i++
			case '/':
				if keep {
					s.attrDone()
				}
				lex = lexBeforeAttr
				i++
			default:
				// c starts the next attribute or ends the tag.
				if keep {
					s.attrDone()
				}
				lex = lexBeforeAttr
			}

		case lexBeforeValue:
			switch c {
			case ' ', '\n', '\r', '\t', '\f':
				i++
			case '>':
				if keep {
					s.attrDone()
				}
				lex = lexBeforeAttr
			case '"', '\'':
				quote, s.valLen = c, 0
				lex = lexValueQuoted
				i++
			default:
				s.valLen = 0
				lex = lexValueBare // c is its first byte
			}

		case lexValueQuoted:
			j := i + quotedRun(b[i:end], quote)
			if keep {
				s.valueBytes(b[i:j])
			}
			i = j
			if i < end {
				if keep {
					s.attrDone()
				}
				lex = lexBeforeAttr
				i++
			}

		case lexValueBare:
			j := i + run(b[i:end], &bareEnd)
			if keep {
				s.valueBytes(b[i:j])
			}
			i = j
			if i < end {
				if b[i] == '>' {
					// "/>" after an unquoted value does not close the tag.
					prev := s.prev
					if i > start {
						prev = b[i-1]
					}
					s.bareSlash = prev == '/'
				} else {
					i++
				}
				if keep {
					s.attrDone()
				}
				lex = lexBeforeAttr
			}
		}
	}
	s.lex, s.quote = lex, quote
	s.pos += i - start
	if i > start {
		s.prev = b[i-1]
	}
	return i
}

// run is the length of b before the first byte marked in stop. Names and
// values are short: a loop over a table beats bytes.IndexByte's setup.
func run(b []byte, stop *[256]bool) int {
	for i, c := range b {
		if stop[c] {
			return i
		}
	}
	return len(b)
}

// The bytes that end a tag name, an attribute name and an unquoted value.
var (
	tagNameEnd  = [256]bool{' ': true, '\n': true, '\r': true, '\t': true, '\f': true, '/': true, '>': true}
	attrNameEnd = [256]bool{' ': true, '\n': true, '\r': true, '\t': true, '\f': true, '/': true, '>': true, '=': true}
	bareEnd     = [256]bool{' ': true, '\n': true, '\r': true, '\t': true, '\f': true, '>': true}
)

// quotedRun is the length of b before quote. Values are mostly short
// (a rel, a URL path), where bytes.IndexByte's setup costs more than the
// search: eight bytes at a time in a word, a long rest by IndexByte.
func quotedRun(b []byte, quote byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := ones * uint64(quote)
	i := 0
	for ; i+8 <= len(b) && i < 64; i += 8 {
		// A zero byte in w is a quote in b (the classic haszero test).
		w := binary.LittleEndian.Uint64(b[i:]) ^ q
		if z := (w - ones) &^ w & highs; z != 0 {
			return i + bits.TrailingZeros64(z)/8
		}
	}
	if len(b)-i < 8 {
		// The end of a chunk (or a write of a few bytes).
		for ; i < len(b) && b[i] != quote; i++ {
		}
		return i
	}
	return i + indexByte(b[i:], quote)
}

// nameBytes appends tag name bytes, lower case; the length counts past the
// bytes kept.
func (s *headScanner) nameBytes(name []byte) {
	for _, c := range name {
		if s.nameLen < nameCap {
			s.name[s.nameLen] = lower(c)
		}
		s.nameLen++
	}
}

func (s *headScanner) attrBytes(name []byte) {
	for _, c := range name {
		s.attrByte(c)
	}
}

// valueBytes appends attribute value bytes, kept if the attribute matters.
func (s *headScanner) valueBytes(v []byte) {
	if s.attr != attrOther && s.valLen < valueCap {
		copy(s.value[s.valLen:], v)
	}
	s.valLen += len(v)
}
