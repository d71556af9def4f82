package injector

import (
	"mime"
	"testing"
)

// isHTMLReference is isHTML as it was, with mime.ParseMediaType alone.
func isHTMLReference(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

// TestIsHTML checks the fast paths against mime.ParseMediaType's verdict.
func TestIsHTML(t *testing.T) {
	for _, tc := range []struct {
		ct   string
		want bool
	}{
		{"text/html", true},
		{"text/html; charset=utf-8", true},
		{"TEXT/HTML; Charset=UTF-8", true},
		{"text/html;charset=utf-8", true},
		{" text/html ; charset=utf-8 ", true},
		{"text/html; charset=iso-8859-1", true},
		{`text/html; charset="utf-8"`, true},
		{"text/html;", true},
		{"application/xhtml+xml", true},
		{"application/xhtml+xml; charset=utf-8", true},
		{"", false},
		{"text/htm", false},
		{"text/html2", false},
		{"text/plain", false},
		{"application/json", false},
		{"image/png", false},
		{"text/html; charset", false},                  // invalid parameter
		{"text/html; charset=utf-8; charset=x", false}, // duplicate parameter
		{"text/html; char\u017fet=utf-8", false},       // non-ASCII folding to "charset"
		{"text/\u212Atml", false},
		{"text/html\x00", false},
	} {
		if got := IsHTML(tc.ct); got != tc.want {
			t.Errorf("IsHTML(%q) = %v, want %v", tc.ct, got, tc.want)
		}
		if ref := isHTMLReference(tc.ct); ref != tc.want {
			t.Errorf("mime.ParseMediaType says %v for %q: the table is wrong", ref, tc.ct)
		}
	}
}

func BenchmarkIsHTML(b *testing.B) {
	for _, ct := range []string{"text/html; charset=utf-8", "application/javascript", "text/html; charset=iso-8859-1"} {
		b.Run(ct, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				IsHTML(ct)
			}
		})
	}
}
