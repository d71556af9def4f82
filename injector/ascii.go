package injector

// EqualFoldASCII reports whether a and b are equal ignoring ASCII case.
// Unlike strings.EqualFold it does not fold non-ASCII letters (U+017F ſ
// into s, U+212A K into k): HTTP and HTML names are ASCII, and
// mime.ParseMediaType and the HTML tokenizer do not fold them either. It is
// the one such helper of the module, for the head scanner (bytes) and the
// header policy (strings) alike.
func EqualFoldASCII[A, B ~string | ~[]byte](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// hasSuffixFoldASCII reports whether s ends in suffix, ignoring ASCII case.
func hasSuffixFoldASCII(s, suffix string) bool {
	return len(s) >= len(suffix) && EqualFoldASCII(s[len(s)-len(suffix):], suffix)
}
