package injector

import (
	"unicode/utf16"
	"unicode/utf8"
)

// The token payloads and the settings snippet are hand-built for speed, so
// they share this JSON string encoder rather than going through
// encoding/json.

// appendJSONString appends s to dst as a quoted JSON string, byte-for-byte
// identical to encoding/json.Marshal(s): HTML-sensitive characters and
// U+2028/U+2029 are escaped and invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte { return appendQuoted(dst, s, false) }

// appendJSString appends s as a JSON string literal that is also ASCII-only,
// for the settings snippet: non-ASCII and DEL become \uXXXX (surrogate pairs
// above U+FFFF). Like appendJSONString it escapes <, > and &, so no </script>,
// <!-- or ]]> can form inside a script element, and decodes to the same
// string the token signer encoded.
func appendJSString(dst []byte, s string) []byte { return appendQuoted(dst, s, true) }

// jsonSafe marks the ASCII bytes copied unescaped: everything printable
// except '"', '\\' and the HTML-sensitive '<', '>', '&'.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		switch b {
		case '"', '\\', '<', '>', '&':
		default:
			t[b] = true
		}
	}
	return t
}()

const hexDigits = "0123456789abcdef"

func appendQuoted(dst []byte, s string, asciiOnly bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			// DEL is valid JSON, but a parse error in an HTML page.
			if jsonSafe[b] && (b != 0x7f || !asciiOnly) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case asciiOnly || r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			if r >= 0x10000 {
				r1, r2 := utf16.EncodeRune(r)
				dst = appendU4(appendU4(dst, r1), r2)
			} else {
				dst = appendU4(dst, r)
			}
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u',
		hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
