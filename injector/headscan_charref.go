package injector

// This file reads the character references in text that could end the head.
// Text ends the head unless it is whitespace, and a reference that decodes
// to whitespace (&#9; &#x20; &Tab; &NewLine; …) is whitespace to a parser:
// dropped before the head, but kept as a text node in the head if our script
// came before it. So such a reference must not be the injection point.

// charRef handles c in a character reference (lexRef…lexRefName), as
// x/net/html's tokenizer decodes references in text, and reports whether c
// must be handled again in the data state.
func (s *headScanner) charRef(c byte, fc bool) (again bool) {
	switch s.lex {
	case lexRef:
		switch c {
		case '#':
			s.lex, s.refVal, s.refDigits = lexRefNum, 0, false
			return false
		case 'T', 'N':
			s.lex, s.refWord, s.match = lexRefName, "Tab;", 1
			if c == 'N' {
				s.refWord = "NewLine;"
			}
			return false
		}
	case lexRefNum:
		if c == 'x' || c == 'X' {
			s.lex = lexRefHex
			return false
		}
		s.lex = lexRefDec
		if isDigit(c) {
			s.refDigit(int(c - '0'))
			return false
		}
	case lexRefDec:
		if isDigit(c) {
			s.refDigit(int(c - '0'))
			return false
		}
	case lexRefHex:
		if v, ok := hexValue(c); ok {
			s.refVal = min(s.refVal*16+v, maxRefValue)
			s.refDigits = true
			return false
		}
	case lexRefName:
		if c == s.refWord[s.match] {
			s.match++
			if s.match == len(s.refWord) {
				s.lex, s.match = lexData, 0 // &Tab; or &NewLine;
			}
			return false
		}
		s.match = 0
	}
	// c ends the reference; a ';' is part of a numeric one.
	semicolon := c == ';' && s.refDigits && (s.lex == lexRefDec || s.lex == lexRefHex)
	s.charRefEnd(fc)
	return !semicolon && (s.outcome == Pending || s.lookahead != 0)
}

// maxRefValue caps a numeric reference's value: anything above U+10FFFF
// decodes to U+FFFD, which is not whitespace either.
const maxRefValue = 0x110000

func (s *headScanner) refDigit(d int) {
	s.refVal = min(s.refVal*10+d, maxRefValue)
	s.refDigits = true
}

// charRefEnd settles the reference read so far: whitespace goes on in the
// data state, anything else is text that starts at its '&'.
func (s *headScanner) charRefEnd(fc bool) {
	numeric := s.lex == lexRefDec || s.lex == lexRefHex
	s.lex = lexData
	if numeric && s.refDigits && isSpaceRef(s.refVal) {
		return
	}
	s.text(s.refStart, fc)
}

// isSpaceRef reports whether a numeric reference's value is one of the
// whitespace characters of the tree builder: tab, line feed, form feed,
// carriage return, space.
func isSpaceRef(v int) bool {
	return v == '\t' || v == '\n' || v == '\f' || v == '\r' || v == ' '
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func hexValue(c byte) (int, bool) {
	switch {
	case isDigit(c):
		return int(c - '0'), true
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}
